package nltest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"mboxsh/config"
	"mboxsh/runtime"
)

// MustParse parses a configuration or fails the test.
func MustParse(t testing.TB, src string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(src), t.Name())
	if err != nil {
		t.Fatalf("parsing test configuration: %v\n%s", err, src)
	}
	return c
}

// Apply applies from→to with one driver and fails the test on error.
func Apply(t testing.TB, d runtime.Driver, from, to *config.Config) *runtime.Result {
	t.Helper()
	res, err := runtime.Apply(context.Background(), []runtime.Driver{d}, from, to, runtime.Options{})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return res
}

// Steps plans from→to and fails the test on error.
func Steps(t testing.TB, d runtime.Driver, from, to *config.Config) []runtime.Step {
	t.Helper()
	steps, err := d.Plan(context.Background(), from, to)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return steps
}

// StepList formats steps for failure messages.
func StepList(steps []runtime.Step) string {
	s := ""
	for i, st := range steps {
		s += fmt.Sprintf("\n  %2d %s: %s", i, st.Stmt, st.Desc)
	}
	return s
}

// RequireNoSteps fails the test if planning cfg→cfg gives any step.
func RequireNoSteps(t testing.TB, d runtime.Driver, cfg *config.Config) {
	t.Helper()
	if steps := Steps(t, d, cfg, cfg); len(steps) != 0 {
		t.Fatalf("planning an applied configuration again gave %d steps, want 0:%s", len(steps), StepList(steps))
	}
}

// CheckUndoEachStep plans from→to and runs the steps one by one. After each
// Do it runs Undo and requires the namespace to be exactly as before the
// step, then runs Do again and goes on. A step whose changes are undone with
// an object an earlier step created (see runtime.Step) may leave them after
// its own Undo: for such a step, undoing the steps before it too (as
// runtime.Apply does after a failure) must restore the state before the
// plan; they are then done again. At the end the plan must be done:
// planning to→to gives no steps. It returns the number of steps.
func CheckUndoEachStep(t testing.TB, ns *NS, d runtime.Driver, from, to *config.Config) int {
	t.Helper()
	ctx := context.Background()
	steps := Steps(t, d, from, to)
	initial := ns.Snapshot()
	for i, s := range steps {
		before := ns.Snapshot()
		if err := s.Do(ctx); err != nil {
			t.Fatalf("step %d (%s: %s): %v", i, s.Stmt, s.Desc, err)
		}
		if s.Undo == nil {
			t.Fatalf("step %d (%s: %s) has no Undo", i, s.Stmt, s.Desc)
		}
		if err := s.Undo(ctx); err != nil {
			t.Fatalf("undo of step %d (%s: %s): %v", i, s.Stmt, s.Desc, err)
		}
		if Diff(before, ns.Snapshot()) != "" {
			for j := i - 1; j >= 0; j-- {
				if err := steps[j].Undo(ctx); err != nil {
					t.Fatalf("undo of step %d (%s: %s), after step %d: %v", j, steps[j].Stmt, steps[j].Desc, i, err)
				}
			}
			if diff := Diff(initial, ns.Snapshot()); diff != "" {
				t.Fatalf("undo of step %d (%s: %s) and of the steps before it did not restore the kernel state:\n%s", i, s.Stmt, s.Desc, diff)
			}
			for j := 0; j < i; j++ {
				if err := steps[j].Do(ctx); err != nil {
					t.Fatalf("step %d (%s: %s), again after undoing up to %d: %v", j, steps[j].Stmt, steps[j].Desc, i, err)
				}
			}
		}
		if err := s.Do(ctx); err != nil {
			t.Fatalf("step %d (%s: %s), again after its undo: %v", i, s.Stmt, s.Desc, err)
		}
	}
	RequireNoSteps(t, d, to)
	return len(steps)
}

var errInjected = errors.New("injected fault")

// CheckFaultInjection applies from→to through runtime.Apply, failing step i
// (BeforeStep) for every i in turn, and requires the namespace to be exactly
// as before after each failed commit. Finally it applies the commit and
// returns the number of steps.
func CheckFaultInjection(t testing.TB, ns *NS, d runtime.Driver, from, to *config.Config) int {
	t.Helper()
	ctx := context.Background()
	n := len(Steps(t, d, from, to))
	before := ns.Snapshot()
	for i := 0; i < n; i++ {
		var failed runtime.Step
		_, err := runtime.Apply(ctx, []runtime.Driver{d}, from, to, runtime.Options{
			BeforeStep: func(k int, s runtime.Step) error {
				if k == i {
					failed = s
					return errInjected
				}
				return nil
			},
		})
		var se *runtime.StepError
		if !errors.As(err, &se) || !errors.Is(err, errInjected) {
			t.Fatalf("fault at step %d: Apply returned %v, want a StepError for the injected fault", i, err)
		}
		if se.UndoErr != nil {
			t.Fatalf("fault at step %d (%s: %s): rollback failed: %v", i, failed.Stmt, failed.Desc, se.UndoErr)
		}
		if diff := Diff(before, ns.Snapshot()); diff != "" {
			t.Fatalf("fault at step %d (%s: %s): the rollback did not restore the kernel state:\n%s", i, failed.Stmt, failed.Desc, diff)
		}
	}
	Apply(t, d, from, to)
	RequireNoSteps(t, d, to)
	return n
}
