package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/store/storetest"
)

// open returns a fresh, migrated store in a file of its own.
func open(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "tether.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) core.Store { return open(t) })
}

func TestConformanceInMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) core.Store {
		s, err := Open(context.Background(), Memory)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestParseDSN(t *testing.T) {
	tests := []struct {
		dsn, path string
		ok        bool
	}{
		{"sqlite:///var/lib/tether/tether.db", "/var/lib/tether/tether.db", true},
		{"sqlite://tether.db", "tether.db", true},
		{"sqlite://data/tether.db", "data/tether.db", true},
		{"sqlite://./tether.db", "./tether.db", true},
		{"sqlite::memory:", "", true},
		{"sqlite://", "", false},
		{"sqlite:///", "", false},
		{"sqlite:tether.db", "", false},
		{"sqlite:///x.db?_pragma=foreign_keys(0)", "", false},
		{"postgres://localhost/tether", "", false},
		{"/var/lib/tether.db", "", false},
	}
	for _, tt := range tests {
		path, err := ParseDSN(tt.dsn)
		if (err == nil) != tt.ok || path != tt.path {
			t.Errorf("ParseDSN(%q) = %q, %v; want %q, ok=%v", tt.dsn, path, err, tt.path, tt.ok)
		}
	}
}

func BenchmarkStore(b *testing.B) {
	s, err := Open(context.Background(), "sqlite://"+filepath.Join(b.TempDir(), "tether.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	storetest.Benchmark(b, s)
}
