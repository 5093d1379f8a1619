package deploy

import (
	"bufio"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"go.yaml.in/yaml/v3"

	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/testkit/testenv"
)

// root is the repository's root, where the Dockerfile is.
const root = ".."

// instruction is one Dockerfile instruction, its continuation lines
// joined.
type instruction struct {
	cmd, args string
}

// stage is one FROM and the instructions after it.
type stage struct {
	image, name string
	ins         []instruction
}

// parseDockerfile splits the Dockerfile into stages of instructions, as
// docker's parser does for the instructions this one uses: comment lines
// and blank lines are dropped, a trailing backslash continues a line.
func parseDockerfile(t *testing.T) []stage {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stages []stage
	var pending string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && pending == "") {
			continue
		}
		if l, ok := strings.CutSuffix(line, `\`); ok {
			pending += l + " "
			continue
		}
		line, pending = pending+line, ""
		cmd, args, _ := strings.Cut(line, " ")
		cmd, args = strings.ToUpper(cmd), strings.TrimSpace(args)
		if cmd == "FROM" {
			image, name, _ := strings.Cut(args, " AS ")
			stages = append(stages, stage{image: strings.TrimSpace(image), name: strings.TrimSpace(name)})
			continue
		}
		if len(stages) == 0 {
			t.Fatalf("Dockerfile: %s before the first FROM", cmd)
		}
		s := &stages[len(stages)-1]
		s.ins = append(s.ins, instruction{cmd, args})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if pending != "" {
		t.Fatal("Dockerfile ends in a continued line")
	}
	return stages
}

// all returns the arguments of every instruction cmd of s.
func (s stage) all(cmd string) []string {
	var out []string
	for _, in := range s.ins {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

// last returns the arguments of the last instruction cmd of s.
func (s stage) last(t *testing.T, cmd string) string {
	t.Helper()
	all := s.all(cmd)
	if len(all) == 0 {
		t.Fatalf("Dockerfile: stage %q has no %s", s.name, cmd)
	}
	return all[len(all)-1]
}

// execForm decodes an instruction's JSON (exec) form.
func execForm(t *testing.T, what, args string) []string {
	t.Helper()
	var out []string
	if err := json.Unmarshal([]byte(args), &out); err != nil || len(out) == 0 {
		t.Fatalf("Dockerfile: %s %s: want the exec form [\"...\"]: %v", what, args, err)
	}
	return out
}

// envOf returns a stage's ENV settings, KEY=VALUE.
func envOf(s stage) []string {
	var out []string
	for _, args := range s.all("ENV") {
		out = append(out, strings.Fields(args)...)
	}
	return out
}

// pinned reports whether an image reference names a tag other than
// latest, or a digest.
func pinned(image string) bool {
	if strings.Contains(image, "@sha256:") {
		return true
	}
	name := image[strings.LastIndex(image, "/")+1:]
	_, tag, ok := strings.Cut(name, ":")
	return ok && tag != "" && tag != "latest"
}

// goBuild returns the build stage's go build line and the path it writes.
func goBuild(t *testing.T, build stage) (line, out string) {
	t.Helper()
	for _, run := range build.all("RUN") {
		if !strings.Contains(run, "go build") {
			continue
		}
		if line != "" {
			t.Fatal("Dockerfile: two go build lines")
		}
		line = run
		f := strings.Fields(run)
		if i := slices.Index(f, "-o"); i >= 0 && i+1 < len(f) {
			out = f[i+1]
		}
	}
	if line == "" || out == "" {
		t.Fatalf("Dockerfile: no go build -o line in stage %q", build.name)
	}
	return line, out
}

// TestDockerfile checks the image the Dockerfile describes: a build stage
// and a runtime stage on pinned images, distroless or scratch at run time,
// a static build of cmd/tether copied to the entrypoint, a non-root user
// owning the /data volume, the listen port exposed, and a healthcheck
// that runs tether healthcheck.
func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t)
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages; want a build stage and a runtime stage", len(stages))
	}
	names := map[string]bool{}
	for _, s := range stages {
		if !names[s.image] && !pinned(s.image) {
			t.Errorf("FROM %s: pin the image by a tag (not latest) or a digest", s.image)
		}
		names[s.name] = true
	}
	build, final := stages[0], stages[len(stages)-1]

	// The builder's Go is at least the one go.mod asks for.
	if v, ok := strings.CutPrefix(build.image, "golang:"); !ok {
		t.Errorf("the build stage is FROM %s, want a golang image", build.image)
	} else if want := goDirective(t); !atLeast(v, want) {
		t.Errorf("FROM %s: Go %s is older than go.mod's go %s", build.image, v, want)
	}
	line, out := goBuild(t, build)
	for _, want := range []string{"CGO_ENABLED=0", "go build", "./cmd/tether"} {
		if !strings.Contains(line, want) {
			t.Errorf("the build line %q lacks %s", line, want)
		}
	}

	if final.image != "scratch" && !strings.HasPrefix(final.image, "gcr.io/distroless/static") {
		t.Errorf("the runtime stage is FROM %s, want distroless static or scratch", final.image)
	}
	entry := execForm(t, "ENTRYPOINT", final.last(t, "ENTRYPOINT"))
	bin := entry[0]
	copied := false
	for _, c := range final.all("COPY") {
		f := strings.Fields(c)
		if slices.Contains(f, "--from="+build.name) && f[len(f)-2] == out && f[len(f)-1] == bin {
			copied = true
		}
	}
	if !copied {
		t.Errorf("no COPY --from=%s %s %s: the entrypoint is not the binary the build stage made", build.name, out, bin)
	}
	if cmd := execForm(t, "CMD", final.last(t, "CMD")); len(cmd) < 3 || cmd[0] != "serve" || cmd[1] != "--config" {
		t.Errorf("CMD %v, want serve --config FILE", cmd)
	}

	user := final.last(t, "USER")
	uid, _, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); uid == "root" || (err == nil && n == 0) || err != nil {
		t.Errorf("USER %s: want a non-root user, by number", user)
	}
	if wd := final.last(t, "WORKDIR"); wd != "/data" {
		t.Errorf("WORKDIR %s: want /data, where the default sqlite://tether.db lands", wd)
	}
	if v := final.last(t, "VOLUME"); !slices.Contains(strings.Fields(strings.Trim(v, `[]"`)), "/data") {
		t.Errorf("VOLUME %s: want /data", v)
	}
	owned := false
	for _, c := range final.all("COPY") {
		if strings.Contains(c, "--chown="+user) && strings.HasSuffix(c, " /data") {
			owned = true
		}
	}
	if !owned {
		t.Errorf("/data is not copied into the image owned by %s: a new volume would be root's", user)
	}

	var listen string
	for _, kv := range envOf(final) {
		if v, ok := strings.CutPrefix(kv, "TETHER_LISTEN="); ok {
			listen = v
		}
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil || host != "0.0.0.0" {
		t.Errorf("ENV TETHER_LISTEN=%q: want 0.0.0.0:PORT, or tether listens on the container's loopback only", listen)
	}
	if expose := final.all("EXPOSE"); !slices.Contains(expose, port) {
		t.Errorf("EXPOSE %v, want the listen port %s", expose, port)
	}
	hc := final.last(t, "HEALTHCHECK")
	_, cmd, ok := strings.Cut(hc, "CMD ")
	if !ok {
		t.Fatalf("HEALTHCHECK %s: no CMD", hc)
	}
	if c := execForm(t, "HEALTHCHECK CMD", cmd); len(c) < 2 || c[0] != bin || c[1] != "healthcheck" {
		t.Errorf("HEALTHCHECK CMD %v, want [%s healthcheck]", c, bin)
	}

	// The build context leaves out the secrets of deploy/compose.yaml.
	ignore, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"deploy/secrets", ".git"} {
		if !slices.Contains(strings.Fields(string(ignore)), want) {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
}

// TestDockerfileBuild runs the Dockerfile's go build line (in the
// repository, as the build stage does after COPY . .) and checks what it
// makes: a static binary, built with cgo off, that is tether and carries
// the version the build argument gives, with the healthcheck command the
// image's HEALTHCHECK runs.
func TestDockerfileBuild(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		testenv.Missing(t, "the go command, to build tether")
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		testenv.Missing(t, "sh, to run the Dockerfile's build line")
	}
	line, out := goBuild(t, parseDockerfile(t)[0])
	bin := filepath.Join(t.TempDir(), "tether")
	line = strings.Replace(line, "-o "+out, "-o "+bin, 1)
	cmd := exec.Command(sh, "-c", line)
	cmd.Dir = root
	// The build argument, as docker build --build-arg VERSION=... sets it;
	// the go command this test runs under.
	cmd.Env = append(os.Environ(), "VERSION=v9.8.7-image-test", "PATH="+filepath.Dir(goCmd)+string(os.PathListSeparator)+os.Getenv("PATH"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", line, err, b)
	}

	if b, err := exec.Command(bin, "version").CombinedOutput(); err != nil || string(b) != "tether v9.8.7-image-test\n" {
		t.Errorf("tether version: %q, %v", b, err)
	}
	err = exec.Command(bin, "healthcheck", "--url", "http://127.0.0.1:1/healthz", "--timeout", "5s").Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("tether healthcheck of nothing: %v; want exit status 1", err)
	}

	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if info.Path != "github.com/tether-id/tether/cmd/tether" {
		t.Errorf("the binary is %s", info.Path)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" {
		t.Errorf("built with CGO_ENABLED=%q", settings["CGO_ENABLED"])
	}
	if f, err := elf.Open(bin); err == nil { // ELF: Linux, the image's system
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Error("the binary has a dynamic loader (PT_INTERP): it is not static, and distroless static has no libc")
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("the binary needs %v", libs)
		}
	}
}

// goDirective is go.mod's go version.
func goDirective(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	return string(m[1])
}

// atLeast compares Go versions such as 1.26.8-bookworm and 1.26.0.
func atLeast(v, want string) bool {
	nums := func(s string) []int {
		s, _, _ = strings.Cut(s, "-")
		var out []int
		for _, p := range strings.Split(s, ".") {
			n, _ := strconv.Atoi(p)
			out = append(out, n)
		}
		return out
	}
	a, b := nums(v), nums(want)
	for i := range b {
		if i >= len(a) {
			return false // 1.26 names no patch release; go.mod may want one
		}
		if a[i] != b[i] {
			return a[i] > b[i]
		}
	}
	return true
}

// compose is the part of a compose file the tests read.
type compose struct {
	Services map[string]struct {
		Image string
		Build struct {
			Context    string
			Dockerfile string
		}
		Command     []string
		Environment map[string]string
		Volumes     []string
		Secrets     []string
		Ports       []string
		DependsOn   map[string]struct{ Condition string } `yaml:"depends_on"`
		Healthcheck struct{ Test []string }
	}
	Networks map[string]struct {
		IPAM struct {
			Config []struct{ Subnet string }
		} `yaml:"ipam"`
	}
	Secrets map[string]struct{ File string }
}

// interpolate replaces compose's ${NAME:-default} by its default.
var interpolation = regexp.MustCompile(`\$\{[A-Z0-9_]+:-([^}]*)\}`)

func interpolate(s string) string { return interpolation.ReplaceAllString(s, "$1") }

// TestCompose checks deploy/compose.yaml: PostgreSQL, two tether
// instances of the Dockerfile's image and Caddy in front, each with a
// healthcheck; every image pinned; and the configuration each instance
// gets (its file, the image's and the service's environment, the secrets
// as *_file) loads through package config, which refuses unknown keys
// and TETHER_* variables, and agrees with the rest: the database is the
// postgres service, with its password from the pgpass secret; the proxy
// names both instances at their listen port; the public URL is the
// proxy's published port; the proxy's network is trusted.
func TestCompose(t *testing.T) {
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	var names []string
	for n := range c.Services {
		names = append(names, n)
	}
	slices.Sort(names)
	if want := []string{"caddy", "postgres", "tether-a", "tether-b"}; !slices.Equal(names, want) {
		t.Fatalf("services %v, want %v", names, want)
	}
	for n, s := range c.Services {
		if s.Build.Context == "" && !pinned(s.Image) {
			t.Errorf("service %s: image %q is not pinned by a tag or digest", n, s.Image)
		}
		if len(s.Healthcheck.Test) < 2 {
			t.Errorf("service %s has no healthcheck", n)
		}
	}

	// The secrets, as the comment at the top of compose.yaml makes them.
	dir := t.TempDir()
	const pgPassword = "0123456789abcdef0123456789abcdef0123456789abcdef"
	secretFiles := map[string]string{
		"secrets/secret_key":        "cafe0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab\n",
		"secrets/encryption_key":    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
		"secrets/postgres_password": pgPassword + "\n",
		"secrets/pgpass":            "*:*:*:tether:" + pgPassword + "\n",
	}
	mounted := map[string]string{} // /run/secrets/<name> -> a file here
	for name, sec := range c.Secrets {
		content, ok := secretFiles[strings.TrimPrefix(sec.File, "./")]
		if !ok {
			t.Fatalf("secret %s: file %s is not one the instructions make, under ./secrets/ (which git and docker ignore)", name, sec.File)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		mounted["/run/secrets/"+name] = p
	}
	secretRef := regexp.MustCompile(`/run/secrets/[a-z0-9_]+`)
	// resolve replaces the secrets' paths inside the containers by the
	// files here, after checking the service mounts each.
	resolve := func(service, s string) string {
		return secretRef.ReplaceAllStringFunc(s, func(p string) string {
			if !slices.Contains(c.Services[service].Secrets, strings.TrimPrefix(p, "/run/secrets/")) || mounted[p] == "" {
				t.Errorf("service %s uses %s, which it does not mount", service, p)
			}
			return mounted[p]
		})
	}

	pg := c.Services["postgres"]
	if f := pg.Environment["POSTGRES_PASSWORD_FILE"]; resolve("postgres", f) == f {
		t.Errorf("postgres: POSTGRES_PASSWORD_FILE=%q, want a secret", f)
	}

	stages := parseDockerfile(t)
	final := stages[len(stages)-1]
	entry := execForm(t, "ENTRYPOINT", final.last(t, "ENTRYPOINT"))
	caddy := c.Services["caddy"]
	caddyfile := ""
	for _, v := range caddy.Volumes {
		if src, dst, _ := strings.Cut(v, ":"); strings.HasPrefix(dst, "/etc/caddy/Caddyfile") {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			caddyfile = string(b)
		}
	}
	if caddyfile == "" {
		t.Fatal("caddy: no Caddyfile mounted at /etc/caddy/Caddyfile")
	}
	var published []string
	for _, p := range caddy.Ports {
		host, _, _ := strings.Cut(p, ":")
		published = append(published, host)
	}

	var configs []string
	for _, name := range []string{"tether-a", "tether-b"} {
		s := c.Services[name]
		if filepath.Join(s.Build.Context, s.Build.Dockerfile) != filepath.Join(root, "Dockerfile") {
			t.Errorf("%s: built from %s/%s, want the repository's Dockerfile", name, s.Build.Context, s.Build.Dockerfile)
		}
		if want := []string{"CMD", entry[0], "healthcheck"}; !slices.Equal(s.Healthcheck.Test, want) {
			t.Errorf("%s: healthcheck %v, want %v", name, s.Healthcheck.Test, want)
		}
		if s.DependsOn["postgres"].Condition != "service_healthy" {
			t.Errorf("%s: does not wait for a healthy postgres", name)
		}
		if len(s.Ports) > 0 {
			t.Errorf("%s publishes %v: only the proxy should be reachable", name, s.Ports)
		}
		if len(s.Command) != 3 || s.Command[0] != "serve" || s.Command[1] != "--config" {
			t.Fatalf("%s: command %v, want serve --config FILE", name, s.Command)
		}
		file := ""
		for _, v := range s.Volumes {
			if src, dst, _ := strings.Cut(v, ":"); strings.TrimSuffix(dst, ":ro") == s.Command[2] {
				file = src
			}
		}
		if file == "" {
			t.Fatalf("%s: nothing mounted at %s", name, s.Command[2])
		}
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		cfgPath := filepath.Join(dir, name+".yaml")
		// Secrets in the YAML's comments (an example provider) are not used.
		lines := strings.Split(string(text), "\n")
		for i, l := range lines {
			if code, comment, ok := strings.Cut(l, "#"); ok {
				lines[i] = resolve(name, code) + "#" + comment
			} else {
				lines[i] = resolve(name, l)
			}
		}
		if err := os.WriteFile(cfgPath, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
			t.Fatal(err)
		}
		// What the process sees: the image's environment, then the
		// service's.
		environ := envOf(final)
		var keys []string
		for k, v := range s.Environment {
			environ = append(environ, k+"="+resolve(name, interpolate(v)))
			keys = append(keys, k+"="+v)
		}
		slices.Sort(keys)
		configs = append(configs, file+" "+strings.Join(keys, " ")+" "+strings.Join(s.Secrets, ","))

		cfg, err := config.Load(cfgPath, environ, config.Options{})
		if err != nil {
			t.Fatalf("%s: the configuration compose.yaml gives it does not load:\n%v", name, err)
		}

		// The database is the postgres service, the password from pgpass.
		pc, err := pgconn.ParseConfig(cfg.Database)
		if err != nil {
			t.Fatalf("%s: database: %v", name, err)
		}
		if _, ok := c.Services[pc.Host]; !ok || pc.Port != 5432 || pc.User != pg.Environment["POSTGRES_USER"] || pc.Database != pg.Environment["POSTGRES_DB"] {
			t.Errorf("%s: database %s@%s:%d/%s, not the postgres service's", name, pc.User, pc.Host, pc.Port, pc.Database)
		}
		if pc.Password != pgPassword {
			t.Errorf("%s: the database password is not the postgres_password secret's (read through pgpass)", name)
		}
		if strings.Contains(string(text), pgPassword) || strings.Contains(cfg.Database, pgPassword) {
			t.Errorf("%s: the database password is in the configuration", name)
		}

		// The proxy reaches it at its listen port; the public URL is the
		// proxy's published port.
		_, port, _ := net.SplitHostPort(cfg.Listen)
		if !regexp.MustCompile(`(?m)^\s*reverse_proxy .*\b` + name + `:` + port + `\b`).MatchString(caddyfile) {
			t.Errorf("the Caddyfile's reverse_proxy does not name %s:%s", name, port)
		}
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || !slices.Contains(published, u.Port()) {
			t.Errorf("%s: public_url %s is not at the proxy's published port %v", name, cfg.PublicURL, published)
		}
		if cfg.Metrics.Listen == "" {
			t.Errorf("%s: no metrics.listen", name)
		}
		for _, n := range c.Networks {
			for _, sub := range n.IPAM.Config {
				if !slices.Contains(cfg.RateLimit.TrustedProxies, sub.Subnet) {
					t.Errorf("%s: rate_limit.trusted_proxies %v lacks the proxy's network %s", name, cfg.RateLimit.TrustedProxies, sub.Subnet)
				}
			}
		}
	}
	if configs[0] != configs[1] {
		t.Errorf("the two instances are configured differently:\n%s\n%s", configs[0], configs[1])
	}
	if caddy.DependsOn["tether-a"].Condition != "service_healthy" || caddy.DependsOn["tether-b"].Condition != "service_healthy" {
		t.Error("caddy does not wait for healthy instances")
	}
}
