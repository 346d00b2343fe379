package engine

import (
	"testing"
	"time"
)

func TestRateLimiterRefills(t *testing.T) {
	now := time.Unix(0, 0)
	r := newRateLimiter(RateLimit{Rate: 2, Burst: 3})
	r.now = func() time.Time { return now }
	for i := range 3 {
		if err := r.allow("frank"); err != nil {
			t.Fatalf("call %d within the burst: %v", i, err)
		}
	}
	if err := r.allow("frank"); err == nil {
		t.Fatal("a call over the burst was allowed")
	}
	if err := r.allow("grace"); err != nil {
		t.Errorf("another identity is limited too: %v", err)
	}
	if err := r.allow(""); err != nil {
		t.Errorf("a call without identity was limited: %v", err)
	}
	now = now.Add(500 * time.Millisecond) // one token at 2/s
	if err := r.allow("frank"); err != nil {
		t.Errorf("after half a second: %v", err)
	}
	if err := r.allow("frank"); err == nil {
		t.Error("the refill gave more than one token")
	}
}
