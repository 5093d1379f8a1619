package migrate

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name     string
		fsys     fstest.MapFS
		versions []int
		err      string
	}{
		{"empty", fstest.MapFS{}, nil, ""},
		{"sorted by number", fstest.MapFS{
			"0002_b.sql":  file("B"),
			"0001_a.sql":  file("A"),
			"0010_j.sql~": file("ignored: not .sql"),
		}, []int{1, 2}, ""},
		{"gap", fstest.MapFS{"0001_a.sql": file(""), "0003_c.sql": file("")}, nil, "expected version 2"},
		{"duplicate", fstest.MapFS{"0001_a.sql": file(""), "0001_b.sql": file("")}, nil, "expected version 2"},
		{"starts at 2", fstest.MapFS{"0002_a.sql": file("")}, nil, "expected version 1"},
		{"bad name", fstest.MapFS{"init.sql": file("")}, nil, "positive version number"},
		{"zero", fstest.MapFS{"0000_init.sql": file("")}, nil, "positive version number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := Load(tt.fsys)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Load error = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, m := range ms {
				got = append(got, m.Version)
			}
			if len(got) != len(tt.versions) {
				t.Fatalf("versions = %v, want %v", got, tt.versions)
			}
			for i := range got {
				if got[i] != tt.versions[i] {
					t.Fatalf("versions = %v, want %v", got, tt.versions)
				}
			}
			if Latest(ms) != len(tt.versions) {
				t.Errorf("Latest = %d, want %d", Latest(ms), len(tt.versions))
			}
		})
	}
	ms, _ := Load(fstest.MapFS{"0001_a.sql": file("CREATE A"), "0002_b.sql": file("CREATE B")})
	if ms[0].SQL != "CREATE A" || ms[1].SQL != "CREATE B" || ms[1].Name != "0002_b.sql" {
		t.Errorf("contents = %+v", ms)
	}
}
