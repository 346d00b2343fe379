package engine

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkQuestionPrompt measures the server-side time of one question
// before the model is called: schema relevance selection, value matching
// (the value hints) and the prompt build, that is Engine.prompt, on the 19
// PostgreSQL ports of Spider (../shared/data/spider/pg_dbs, ANALYZEd, with
// the value index on). Each iteration is one Spider dev question on a
// loaded database, cycling over all of them in dev.json order; besides
// ns/op it reports the median and 95th percentile of the per-question time
// (each call timed on its own) in microseconds. Loading the databases (a few
// seconds) is not timed.
func BenchmarkQuestionPrompt(b *testing.B) {
	dbs, dev := loadSpider(b, true)
	eng, err := New(Config{Databases: dbs})
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	eng.WaitValues(ctx)
	access := map[string]*Access{}
	values := 0 // values indexed, over the databases
	for _, db := range dbs {
		a, err := eng.Access(ctx, db.Name)
		if err != nil {
			b.Fatal(err)
		}
		access[db.Name] = a
		prep, err := db.Schema.Get(ctx)
		if err != nil {
			b.Fatal(err)
		}
		values += prep.Values().Len()
	}
	if values == 0 {
		b.Fatal("no value indexed: the value index is off or failed to load")
	}
	type question struct {
		access *Access
		text   string
	}
	var qs []question
	for _, q := range dev {
		if a := access[strings.ToLower(q.DB)]; a != nil {
			qs = append(qs, question{a, q.Question})
		}
	}
	if len(qs) == 0 {
		b.Fatal("no Spider dev question on the loaded databases")
	}
	// One question per database first, outside the timing: the first
	// prompt of a database is not what this measures.
	warmed := map[*Access]bool{}
	for _, q := range qs {
		if !warmed[q.access] {
			warmed[q.access] = true
			if _, err := eng.prompt(ctx, q.access, q.text, 100); err != nil {
				b.Fatal(err)
			}
		}
	}
	var times []time.Duration
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		q := qs[i%len(qs)]
		start := time.Now()
		_, err := eng.prompt(ctx, q.access, q.text, 100)
		times = append(times, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
	}
	reportQuestionTimes(b, times)
	b.ReportMetric(float64(len(qs)), "questions")
	b.ReportMetric(float64(len(dbs)), "databases")
	b.ReportMetric(float64(values), "values")
}

// reportQuestionTimes reports the median and 95th percentile of times in
// microseconds per question.
func reportQuestionTimes(b *testing.B, times []time.Duration) {
	if len(times) == 0 {
		return
	}
	s := slices.Clone(times)
	slices.Sort(s)
	us := func(p int) float64 { return float64(s[(len(s)-1)*p/100]) / float64(time.Microsecond) }
	b.ReportMetric(us(50), "p50-us/q")
	b.ReportMetric(us(95), "p95-us/q")
}
