// Command clientgo-candidate is the client-go reference candidate for the
// benchmarks: one leader-election candidate using
// k8s.io/client-go/tools/leaderelection with a LeaseLock and ReleaseOnCancel.
//
// It prints one JSON line per event to stdout, in the shape of
// test/support/candidate-process.mjs, with a CLOCK_MONOTONIC timestamp in
// nanoseconds (the clock behind Node's process.hrtime.bigint()), so the
// harness can compare moments across processes:
//
//	{"event":"candidate","at":"123"}
//	{"event":"new-leader","identity":"b","at":"124"}
//	{"event":"started","at":"125"}
//	{"event":"stopped","reason":"stopped","at":"126"}
//	{"event":"exited","at":"127"}
//
// SIGTERM/SIGINT cancel the context: the leader releases the Lease and exits.
// client-go's Run is one-shot; like our long-lived elector, this candidate
// runs again after losing a term.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
)

var stdout sync.Mutex

// monotonicNanos reads CLOCK_MONOTONIC, the clock libuv's hrtime uses on Linux.
func monotonicNanos() string {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(err)
	}
	return strconv.FormatInt(ts.Nano(), 10)
}

func emit(fields map[string]string) {
	// Stamp first, then wait for the lock, so the time is the event's, not the printer's.
	fields["at"] = monotonicNanos()
	line, _ := json.Marshal(fields)
	stdout.Lock()
	defer stdout.Unlock()
	os.Stdout.Write(append(line, '\n'))
}

// envOr returns the environment variable, else the fallback.
func envOr(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

// envMillis reads a duration given in milliseconds (the candidate-process.mjs convention).
func envMillis(name string, fallback time.Duration) time.Duration {
	value := os.Getenv(name)
	if value == "" {
		return fallback
	}
	ms, err := strconv.ParseFloat(value, 64)
	if err != nil {
		fmt.Fprintf(os.Stderr, "invalid %s=%q: %v\n", name, value, err)
		os.Exit(2)
	}
	return time.Duration(ms * float64(time.Millisecond))
}

// benchIsLeader times le.IsLeader() in a tight loop and prints ns/call as JSON.
func benchIsLeader(iterations, runs int) {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: "bench", Namespace: "default"},
		LockConfig: resourcelock.ResourceLockConfig{Identity: "bench"},
	}
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:          lock,
		LeaseDuration: 15 * time.Second,
		RenewDeadline: 10 * time.Second,
		RetryPeriod:   2 * time.Second,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) {},
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		panic(err)
	}
	sink := 0
	nsPerCall := make([]float64, 0, runs)
	for run := 0; run <= runs; run++ {
		start := time.Now()
		for i := 0; i < iterations; i++ {
			if le.IsLeader() {
				sink++
			}
		}
		elapsed := time.Since(start)
		if run > 0 { // run 0 warms up
			nsPerCall = append(nsPerCall, float64(elapsed.Nanoseconds())/float64(iterations))
		}
	}
	line, _ := json.Marshal(map[string]any{"nsPerCall": nsPerCall, "iterations": iterations, "sink": sink})
	fmt.Println(string(line))
}

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file (env KUBECONFIG)")
	leaseName := flag.String("lease-name", os.Getenv("LEASE_NAME"), "Lease name (env LEASE_NAME)")
	namespace := flag.String("namespace", envOr("LEASE_NAMESPACE", "default"), "Lease namespace (env LEASE_NAMESPACE)")
	identity := flag.String("identity", os.Getenv("IDENTITY"), "candidate identity (env IDENTITY)")
	leaseDuration := flag.Duration("lease-duration", envMillis("LEASE_DURATION", 15*time.Second), "lease duration (env LEASE_DURATION in ms)")
	renewDeadline := flag.Duration("renew-deadline", envMillis("RENEW_DEADLINE", 10*time.Second), "renew deadline (env RENEW_DEADLINE in ms)")
	retryPeriod := flag.Duration("retry-period", envMillis("RETRY_PERIOD", 2*time.Second), "retry period (env RETRY_PERIOD in ms)")
	benchIterations := flag.Int("bench-isleader", 0, "instead of running, time N IsLeader() calls per run and print ns/call")
	benchRuns := flag.Int("bench-runs", 7, "runs for -bench-isleader")
	coordinatedBinary := flag.String("coordinated-binary-version", os.Getenv("CLE_BINARY_VERSION"), "Coordinated Leader Election: publish a LeaseCandidate with this binary version (env CLE_BINARY_VERSION)")
	coordinatedEmulation := flag.String("coordinated-emulation-version", os.Getenv("CLE_EMULATION_VERSION"), "its emulation version (env CLE_EMULATION_VERSION; default the binary version)")
	klog.InitFlags(nil) // -v=4 and friends, to see client-go's own decisions on stderr
	flag.Parse()

	if *benchIterations > 0 {
		benchIsLeader(*benchIterations, *benchRuns)
		return
	}
	if *kubeconfig == "" || *leaseName == "" || *identity == "" {
		fmt.Fprintln(os.Stderr, "need -kubeconfig, -lease-name and -identity (or KUBECONFIG, LEASE_NAME, IDENTITY)")
		os.Exit(2)
	}

	restConfig, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loading kubeconfig: %v\n", err)
		os.Exit(1)
	}
	// NewFromKubeconfig is what client-go users typically call: it bounds each
	// request by max(1s, renewDeadline/2) and returns a *resourcelock.LeaseLock.
	lock, err := resourcelock.NewFromKubeconfig(
		resourcelock.LeasesResourceLock,
		*namespace,
		*leaseName,
		resourcelock.ResourceLockConfig{Identity: *identity},
		restConfig,
		*renewDeadline,
	)
	if err != nil {
		fmt.Fprintf(os.Stderr, "creating lease lock: %v\n", err)
		os.Exit(1)
	}

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()

	coordinated := *coordinatedBinary != ""
	if coordinated {
		emulation := *coordinatedEmulation
		if emulation == "" {
			emulation = *coordinatedBinary
		}
		clientset, err := kubernetes.NewForConfig(restConfig)
		if err != nil {
			fmt.Fprintf(os.Stderr, "creating clientset: %v\n", err)
			os.Exit(1)
		}
		candidate, waiter, err := leaderelection.NewCandidate(clientset, *namespace, *identity, *leaseName,
			*coordinatedBinary, emulation, coordinationv1.OldestEmulationVersion)
		if err != nil {
			fmt.Fprintf(os.Stderr, "creating lease candidate: %v\n", err)
			os.Exit(1)
		}
		go candidate.Run(ctx)
		waiter.WaitForCacheSync(ctx.Done())
	}

	// OnStoppedLeading also fires when Run ends without ever leading, so only
	// report it for a term that started.
	var leading sync.Mutex
	started := false
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   *leaseDuration,
		RenewDeadline:   *renewDeadline,
		RetryPeriod:     *retryPeriod,
		ReleaseOnCancel: true,
		Name:            *leaseName,
		Coordinated:     coordinated,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) {
				leading.Lock()
				started = true
				leading.Unlock()
				emit(map[string]string{"event": "started"})
			},
			OnStoppedLeading: func() {
				leading.Lock()
				wasLeading := started
				started = false
				leading.Unlock()
				if !wasLeading {
					return
				}
				reason := "lost"
				if ctx.Err() != nil {
					reason = "stopped"
				}
				emit(map[string]string{"event": "stopped", "reason": reason})
			},
			OnNewLeader: func(holder string) {
				emit(map[string]string{"event": "new-leader", "identity": holder})
			},
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "invalid leader election config: %v\n", err)
		os.Exit(2)
	}

	emit(map[string]string{"event": "candidate"})
	// Reusing one LeaderElector keeps its observed record, so new-leader stays
	// de-duplicated across runs and a lost term does not reset expiry tracking.
	for ctx.Err() == nil {
		le.Run(ctx)
	}
	emit(map[string]string{"event": "exited"})
}
