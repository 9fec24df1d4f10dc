package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"mboxsh/config"
	"mboxsh/runtime"
	"mboxsh/runtime/system"
)

func main() {
	src, _ := os.ReadFile("/tmp/full.cfg")
	cfg, _ := config.Parse(src, "f")
	sys := system.New("mbxprof", "")
	ctx := context.Background()
	drivers, _ := sys.Drivers(ctx)
	t := time.Now()
	_, err := runtime.Apply(ctx, drivers, cfg, cfg, runtime.Options{})
	fmt.Println("first noop apply", time.Since(t), err)
	for i := 0; i < 3; i++ {
		for _, d := range drivers {
			t := time.Now()
			st, err := d.Plan(ctx, cfg, cfg)
			fmt.Println(d.Name(), len(st), time.Since(t), err)
		}
	}
	t = time.Now()
	config.Validate(cfg, nil)
	fmt.Println("validate", time.Since(t))
	t = time.Now()
	config.Diff(cfg, cfg)
	fmt.Println("diff", time.Since(t))
	t = time.Now()
	config.Render(cfg)
	fmt.Println("render", time.Since(t))
	t = time.Now()
	cfg.Clone()
	fmt.Println("clone", time.Since(t))
}
