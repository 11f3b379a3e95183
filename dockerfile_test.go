package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, …
	args string
	line int
}

// parseDockerfile reads the instructions of a Dockerfile, per stage.
func parseDockerfile(t *testing.T, path string) [][]instruction {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stages [][]instruction
	var cur strings.Builder
	start := 0
	flush := func() {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start}
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Errorf("line %d: %s before the first FROM", in.line, in.cmd)
			}
			return
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	for i, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		flush()
	}
	flush()
	return stages
}

func find(stage []instruction, cmd string) []instruction {
	var out []instruction
	for _, in := range stage {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// TestDockerfile lints the Dockerfile where no Docker engine (nor hadolint)
// is available: a multi-stage build of a static binary with the Go version
// of go.mod, run as non-root on a minimal image, with the settings the
// README documents.
func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t, "Dockerfile")
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a build stage and a runtime stage", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]

	// Build stage: the toolchain of go.mod, static and reproducible flags.
	gomod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	from := build[0].args
	if !regexp.MustCompile(`^golang:`+regexp.QuoteMeta(string(m[1]))+`[.-]`).MatchString(from) || !strings.Contains(strings.ToLower(from), " as build") {
		t.Errorf("build stage FROM %q, want golang:%s… AS build", from, m[1])
	}
	var goBuild string
	for _, in := range find(build, "RUN") {
		if strings.Contains(in.args, "go build") {
			goBuild = in.args
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags="-s -w"`, "-o /out/mangrove-dashboard"} {
		if !strings.Contains(goBuild, want) {
			t.Errorf("the go build step %q lacks %s", goBuild, want)
		}
	}
	if len(find(build, "COPY")) < 2 || !strings.Contains(find(build, "COPY")[0].args, "go.mod go.sum") {
		t.Error("copy go.mod and go.sum first, so the module download is cached apart from the sources")
	}

	// Runtime stage: minimal, non-root, healthy, labelled, data on a volume.
	base := final[0].args
	if !strings.Contains(base, "distroless") && base != "scratch" {
		t.Errorf("runtime base %q: want a distroless or scratch image", base)
	}
	users := find(final, "USER")
	if len(users) == 0 {
		t.Fatal("the runtime stage has no USER: it would run as root")
	}
	user := strings.Split(users[len(users)-1].args, ":")[0]
	if user == "root" || user == "0" || user == "" {
		t.Errorf("USER %q runs as root", users[len(users)-1].args)
	}
	hc := find(final, "HEALTHCHECK")
	if len(hc) != 1 || !strings.Contains(hc[0].args, `"-healthcheck"`) || !strings.Contains(hc[0].args, "CMD [") {
		t.Errorf("HEALTHCHECK %v: want the exec form running the binary's -healthcheck", hc)
	}
	labels := ""
	for _, in := range find(final, "LABEL") {
		labels += in.args + " "
	}
	for _, key := range []string{"title", "description", "licenses", "source", "version"} {
		if !strings.Contains(labels, "org.opencontainers.image."+key+"=") {
			t.Errorf("no OCI label org.opencontainers.image.%s", key)
		}
	}
	env := map[string]string{}
	for _, in := range find(final, "ENV") {
		for _, kv := range strings.Fields(in.args) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = strings.Trim(v, `"`)
			}
		}
	}
	if env["ADDR"] != ":8080" {
		t.Errorf("ENV ADDR=%q, want :8080 (all interfaces inside the container)", env["ADDR"])
	}
	if !strings.HasPrefix(env["SANDBOX_ADDR"], "127.0.0.1:") {
		t.Errorf("ENV SANDBOX_ADDR=%q: the embedded sandbox should stay on loopback", env["SANDBOX_ADDR"])
	}
	volumes := ""
	for _, in := range find(final, "VOLUME") {
		volumes += in.args
	}
	if env["DATA_DIR"] == "" || !strings.Contains(volumes, `"`+env["DATA_DIR"]+`"`) {
		t.Errorf("DATA_DIR %q is not a VOLUME (%s)", env["DATA_DIR"], volumes)
	}
	if e := find(final, "EXPOSE"); len(e) != 1 || e[0].args != "8080" {
		t.Errorf("EXPOSE %v, want 8080", e)
	}
	if ep := find(final, "ENTRYPOINT"); len(ep) != 1 || ep[0].args != `["/mangrove-dashboard"]` {
		t.Errorf("ENTRYPOINT %v, want the binary in exec form", ep)
	}
	for _, stage := range stages {
		for _, in := range stage {
			if in.cmd == "ADD" {
				t.Errorf("line %d: use COPY, not ADD", in.line)
			}
			if in.cmd == "FROM" && strings.HasSuffix(strings.Fields(in.args)[0], ":latest") {
				t.Errorf("line %d: pin the base image, not :latest", in.line)
			}
		}
	}
	if _, err := os.Stat(".dockerignore"); err != nil {
		t.Error("no .dockerignore: the build context would carry .git and data/")
	}
}
