package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Linux /proc readings of the server (and of the machine). Every reader
// returns -1 (or an error) when the figure cannot be read, e.g. when the
// server runs on another machine or as another user.

// clockTicks is USER_HZ, the unit of the CPU times in /proc/<pid>/stat. It
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// procStatus returns the named fields of /proc/<pid>/status (e.g. VmRSS,
// VmHWM, Threads), in kB for the memory fields.
func procStatus(pid int, names ...string) (map[string]int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(names))
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		for _, n := range names {
			if k == n {
				f := strings.Fields(v)
				if len(f) > 0 {
					if x, err := strconv.ParseInt(f[0], 10, 64); err == nil {
						out[n] = x
					}
				}
			}
		}
	}
	return out, nil
}

// countFDs returns the number of open file descriptors of pid, or -1.
func countFDs(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// resetPeakRSS resets VmHWM of pid to its current RSS (Linux 4.0+), so that
// VmHWM read later is the peak since now. It reports whether it worked.
func resetPeakRSS(pid int) bool {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
}

// procStat is the part of /proc/<pid>/stat we use.
type procStat struct {
	ppid           int
	utime, stime   int64 // ticks
	cutime, cstime int64 // ticks, of waited-for children
	comm           string
	startTime      int64
	ok             bool
}

func readProcStat(pid int) procStat {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}
	}
	// comm is in parentheses and may contain spaces: split after the last ')'.
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return procStat{}
	}
	f := strings.Fields(s[end+1:])
	// f[0] is field 3 (state); utime is field 14 → f[11].
	if len(f) < 20 {
		return procStat{}
	}
	atoi := func(s string) int64 { x, _ := strconv.ParseInt(s, 10, 64); return x }
	return procStat{
		comm: s[open+1 : end], ppid: int(atoi(f[1])),
		utime: atoi(f[11]), stime: atoi(f[12]), cutime: atoi(f[13]), cstime: atoi(f[14]),
		startTime: atoi(f[19]), ok: true,
	}
}

// cpuSeconds returns the CPU time pid has used (user+system), or -1.
func cpuSeconds(pid int) float64 {
	st := readProcStat(pid)
	if !st.ok {
		return -1
	}
	return float64(st.utime+st.stime) / clockTicks
}

// children returns the pids whose parent is pid.
func children(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st := readProcStat(p); st.ok && st.ppid == pid {
			out = append(out, p)
		}
	}
	return out
}

// treeCPUSeconds returns the CPU time of a process tree one level deep
// (PostgreSQL: the postmaster and its backends): the process's own time,
// its reaped children's, and its live children's. -1 when pid is gone.
func treeCPUSeconds(pid int) (seconds float64, liveChildren int) {
	st := readProcStat(pid)
	if !st.ok {
		return -1, 0
	}
	ticks := st.utime + st.stime + st.cutime + st.cstime
	kids := children(pid)
	for _, k := range kids {
		if c := readProcStat(k); c.ok {
			ticks += c.utime + c.stime
		}
	}
	return float64(ticks) / clockTicks, len(kids)
}

// machineCPU returns the total and idle jiffies of all CPUs (/proc/stat).
func machineCPU() (total, idle int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0
	}
	for i, v := range f[1:] {
		x, _ := strconv.ParseInt(v, 10, 64)
		// guest and guest_nice (fields 9, 10) are already in user and nice.
		if i >= 8 {
			break
		}
		total += x
		if i == 3 || i == 4 { // idle, iowait
			idle += x
		}
	}
	return total, idle
}

// selfCPUSeconds returns the CPU time of this process (the load generator).
func selfCPUSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// loadAvg returns the first three fields of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "n/a"
	}
	return strings.Join(f[:3], " ")
}

// cpuModel returns the CPU model name from /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// kernelRelease returns the kernel release, e.g. 6.1.0-18-amd64.
func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return runtime.GOOS
	}
	return strings.TrimSpace(string(b))
}

// findListenerPID returns the process listening on the local TCP port, from
// /proc/net/tcp{,6} and the processes' file descriptors, or 0.
func findListenerPID(port int) int {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 10 || fs[3] != "0A" { // 0A = LISTEN
				continue
			}
			_, hexPort, ok := strings.Cut(fs[1], ":")
			if !ok {
				continue
			}
			if p, err := strconv.ParseInt(hexPort, 16, 32); err == nil && int(p) == port {
				inodes["socket:["+fs[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return 0
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join("/proc", p.Name(), "fd")
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if link, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && inodes[link] {
				return pid
			}
		}
	}
	return 0
}

// rssSampler samples a process's RSS at an interval.
type rssSampler struct {
	read func() (kb int64, ok bool)

	mu      sync.Mutex
	samples int
	maxKB   int64
	sumKB   int64
	stop    chan struct{}
	done    chan struct{}
}

// procRSS reads VmRSS of pid from /proc.
func procRSS(pid int) func() (int64, bool) {
	return func() (int64, bool) {
		st, err := procStatus(pid, "VmRSS")
		if err != nil {
			return 0, false
		}
		kb, ok := st["VmRSS"]
		return kb, ok
	}
}

func startRSSSampler(read func() (int64, bool), every time.Duration) *rssSampler {
	s := &rssSampler{read: read, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			s.sample()
			select {
			case <-s.stop:
				s.sample()
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) sample() {
	kb, ok := s.read()
	if !ok {
		return
	}
	s.mu.Lock()
	s.samples++
	s.sumKB += kb
	if kb > s.maxKB {
		s.maxKB = kb
	}
	s.mu.Unlock()
}

// Stop stops sampling and returns the number of samples, the largest and
// the mean RSS in kB.
func (s *rssSampler) Stop() (samples int, maxKB, meanKB int64) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.samples > 0 {
		meanKB = s.sumKB / int64(s.samples)
	}
	return s.samples, s.maxKB, meanKB
}
