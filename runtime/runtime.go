// Package runtime applies configuration changes to the live system. Each
// sub-package is a driver that owns one subsystem (links and routes through
// netlink, firewall and NAT through nftables, IKE through charon, OSPF
// through FRR). A driver turns the change between two models into reversible
// steps; Apply runs the steps of all drivers as one transaction.
package runtime

import (
	"context"
	"errors"
	"fmt"

	"mboxsh/config"
)

// Step is one reversible change to the system. Undo must restore exactly the
// state that Do found (drivers read the kernel before they change it), given
// that the steps before it in the same plan are undone after it, as Apply
// does: a change to an object that an earlier step created may be left to
// the undo of the creation, which removes the object with all of it.
type Step struct {
	Driver string
	// Stmt names the configuration statement the step realises, as the user
	// wrote it ("interface tun0", "firewall-access 12"); it is shown when
	// the step fails.
	Stmt string
	Desc string
	Do   func(ctx context.Context) error
	Undo func(ctx context.Context) error
}

// Driver owns one subsystem.
type Driver interface {
	// Name is a short name: "netlink", "nft", "ipsec", "frr".
	Name() string
	// Plan computes the steps that move the system from the configuration
	// `from` (the running config last applied; empty at first) to `to`.
	// Identical configurations give no steps. Plan may read the system.
	Plan(ctx context.Context, from, to *config.Config) ([]Step, error)
	// Drift lists, one line each, where the system differs from cfg.
	Drift(ctx context.Context, cfg *config.Config) ([]string, error)
	Close() error
}

// StepError reports the step that failed a commit.
type StepError struct {
	Step Step
	Err  error
	// UndoErr is set when rolling back the applied steps failed too.
	UndoErr error
}

func (e *StepError) Error() string {
	msg := fmt.Sprintf("%s: %s: %v", e.Step.Stmt, e.Step.Desc, e.Err)
	if e.UndoErr != nil {
		msg += fmt.Sprintf(" (rollback incomplete: %v)", e.UndoErr)
	}
	return msg
}

func (e *StepError) Unwrap() error { return e.Err }

// Options tune Apply.
type Options struct {
	// BeforeStep, when set, runs before step i; an error fails that step as
	// if Do had failed. Tests use it to inject faults.
	BeforeStep func(i int, s Step) error
}

// Result describes an applied transaction.
type Result struct {
	Steps []Step // the steps that were applied, in order
}

// Apply plans the change from `from` to `to` with every driver, in order,
// then runs all steps. If a step fails, the steps already done are undone in
// reverse order and a *StepError is returned: the system is left as it was.
func Apply(ctx context.Context, drivers []Driver, from, to *config.Config, opt Options) (*Result, error) {
	var steps []Step
	for _, d := range drivers {
		s, err := d.Plan(ctx, from, to)
		if err != nil {
			return nil, fmt.Errorf("%s: planning: %w", d.Name(), err)
		}
		steps = append(steps, s...)
	}
	for i, s := range steps {
		err := ctx.Err()
		if err == nil && opt.BeforeStep != nil {
			err = opt.BeforeStep(i, s)
		}
		if err == nil {
			err = s.Do(ctx)
		}
		if err != nil {
			undoErr := undo(context.WithoutCancel(ctx), steps[:i])
			return nil, &StepError{Step: s, Err: err, UndoErr: undoErr}
		}
	}
	return &Result{Steps: steps}, nil
}

func undo(ctx context.Context, done []Step) error {
	var errs []error
	for i := len(done) - 1; i >= 0; i-- {
		if done[i].Undo == nil {
			continue
		}
		if err := done[i].Undo(ctx); err != nil {
			errs = append(errs, fmt.Errorf("undo %s: %w", done[i].Stmt, err))
		}
	}
	return errors.Join(errs...)
}

// Drift collects the drift reports of all drivers.
func Drift(ctx context.Context, drivers []Driver, cfg *config.Config) ([]string, error) {
	var out []string
	for _, d := range drivers {
		lines, err := d.Drift(ctx, cfg)
		if err != nil {
			return out, fmt.Errorf("%s: %w", d.Name(), err)
		}
		out = append(out, lines...)
	}
	return out, nil
}
