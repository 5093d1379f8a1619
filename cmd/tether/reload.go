package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/tether-id/tether/config"
)

// reload makes a running `tether serve` read its configuration again:
// it sends SIGHUP to the process whose id is in the pid file (--pid-file,
// or the pid_file key of --config). With --config it first loads the
// file, so that a mistake is shown here, naming the key, and the server
// is not signalled; the server reads the file itself, with the
// environment it started with. What the server changed is in its log.
func (e *env) reload(args []string) error {
	fs := e.flags("reload")
	var path, pidFile string
	fs.StringVar(&path, "config", "", "the running server's configuration `FILE`: checked, then its pid_file names the server")
	fs.StringVar(&pidFile, "pid-file", "", "the pid `FILE` the server writes (tether serve --pid-file)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if path == "" && pidFile == "" {
		fmt.Fprintln(e.stderr, "tether reload: --config FILE or --pid-file FILE is required")
		return errUsage
	}
	if path != "" {
		cfg, err := config.Load(path, e.environ, config.Options{})
		if err != nil {
			return fmt.Errorf("%w\nthe server was not asked to reload", err)
		}
		if pidFile == "" {
			pidFile = cfg.PIDFile
		}
		if pidFile == "" {
			return fmt.Errorf("%s has no pid_file: give the server's with --pid-file", path)
		}
	}
	pid, err := readPIDFile(pidFile)
	if err != nil {
		return err
	}
	p, err := os.FindProcess(pid)
	if err == nil {
		err = p.Signal(syscall.SIGHUP)
	}
	if err != nil {
		return fmt.Errorf("signal process %d from %s: %w (is tether serve running?)", pid, pidFile, err)
	}
	fmt.Fprintf(e.stdout, "asked tether (process %d) to reload its configuration; its log says what changed\n", pid)
	return nil
}

// readPIDFile reads the process id that writePIDFile wrote.
func readPIDFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("pid file: %w (is tether serve running?)", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: want a process id, got %q", path, strings.TrimSpace(string(b)))
	}
	return pid, nil
}

// writePIDFile writes this process's id to path, whole or not at all
// (a temporary file renamed), and returns what removes it: at shutdown,
// and only while it still names this process.
func writePIDFile(path string) (remove func(), err error) {
	pid := strconv.Itoa(os.Getpid())
	f, err := os.CreateTemp(filepath.Dir(path), ".tether-pid-*")
	if err != nil {
		return nil, fmt.Errorf("pid file: %w", err)
	}
	_, werr := f.WriteString(pid + "\n")
	cerr := f.Close()
	if err := errors.Join(werr, cerr, os.Chmod(f.Name(), 0o644)); err != nil {
		os.Remove(f.Name())
		return nil, fmt.Errorf("pid file: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return nil, fmt.Errorf("pid file: %w", err)
	}
	return func() {
		if got, err := readPIDFile(path); err == nil && strconv.Itoa(got) == pid {
			os.Remove(path)
		}
	}, nil
}
