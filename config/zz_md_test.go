package config

import (
	"os"
	"testing"
)

func TestZZMd(t *testing.T) {
	os.WriteFile("/tmp/probe/md.md", []byte(DefaultGrammar().Markdown()), 0o644)
}
