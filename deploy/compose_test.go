package deploy_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/loyaltyforge/loyalty/infra/config"
)

const root = ".."

// secrets are what the compose file refuses to start without.
var secrets = []string{"LOYALTY_JWT_SECRET", "POSTGRES_PASSWORD"}

type service struct {
	Image       string    `yaml:"image"`
	Build       any       `yaml:"build"`
	Command     []string  `yaml:"command"`
	Environment yaml.Node `yaml:"environment"`
	DependsOn   yaml.Node `yaml:"depends_on"`
}

type composeFile struct {
	Services map[string]service `yaml:"services"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	require.NoError(t, err)
	var c composeFile
	require.NoError(t, yaml.Unmarshal(raw, &c))
	require.NotEmpty(t, c.Services)
	return c
}

// env reads a service's environment in either of compose's forms (a map or KEY=value lines).
func (s service) env(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	switch s.Environment.Kind {
	case 0:
	case yaml.MappingNode:
		var m map[string]string
		require.NoError(t, s.Environment.Decode(&m))
		for k, v := range m {
			out[k] = v
		}
	case yaml.SequenceNode:
		var list []string
		require.NoError(t, s.Environment.Decode(&list))
		for _, kv := range list {
			k, v, _ := strings.Cut(kv, "=")
			out[k] = v
		}
	default:
		t.Fatalf("environment is neither a map nor a list")
	}
	return out
}

// isLoyaltyd: a service running loyaltyd itself (the courier simulator runs the same image with
// its own command).
func (s service) isLoyaltyd() bool {
	return strings.HasPrefix(s.Image, "loyaltyforge/loyaltyd:") && len(s.Command) == 0
}

var interpolation = regexp.MustCompile(`\$\{([A-Z0-9_]+)(?:(:?[-?])([^}]*))?\}`)

// interpolate resolves ${VAR:-default} to its default and a required ${VAR:?msg} to a stand-in,
// as compose would with only the secrets set.
func interpolate(v string) string {
	return interpolation.ReplaceAllStringFunc(v, func(m string) string {
		g := interpolation.FindStringSubmatch(m)
		switch {
		case strings.HasSuffix(g[2], "-"):
			return g[3]
		case strings.HasSuffix(g[2], "?"):
			return "stand-in-secret-stand-in-secret-0123"
		}
		return ""
	})
}

// TestComposeConfigValidates runs docker-compose's own check of the file (it needs no engine):
// with the secrets set it passes; without them it refuses, naming them.
func TestComposeConfigValidates(t *testing.T) {
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Skip("docker-compose is not installed (Debian: apt-get install docker-compose; CI installs it in .ci/run): " +
			"the compose file's own validation is skipped, the Go checks of its content still run")
	}
	run := func(env ...string) (string, error) {
		cmd := exec.Command(bin, "-f", filepath.Join(root, "docker-compose.yml"), "config")
		cmd.Env = append(withoutSecrets(os.Environ()), env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	out, err := run("LOYALTY_JWT_SECRET=0123456789abcdef0123456789abcdef", "POSTGRES_PASSWORD=pw")
	require.NoError(t, err, out)
	// What compose resolved: the anchors merged into every loyaltyd service.
	var resolved composeFile
	require.NoError(t, yaml.Unmarshal([]byte(out), &resolved), out)
	for _, name := range []string{"api-1", "api-2", "projector", "process", "scheduler"} {
		s, ok := resolved.Services[name]
		require.True(t, ok, name)
		env := s.env(t)
		assert.NotEmpty(t, env["LOYALTY_ROLES"], name)
		assert.Equal(t, "0123456789abcdef0123456789abcdef", env["LOYALTY_JWT_SECRET"], name)
		assert.Contains(t, env["LOYALTY_DATABASE_URL"], ":pw@postgres:5432/", name)
	}

	out, err = run("POSTGRES_PASSWORD=pw")
	require.Error(t, err, "the fleet must not start with an empty JWT secret:\n%s", out)
	assert.Contains(t, out, "LOYALTY_JWT_SECRET")
}

func withoutSecrets(environ []string) []string {
	return slices.DeleteFunc(slices.Clone(environ), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains(secrets, k)
	})
}

// TestComposeEnvironmentIsWhatLoyaltydReads: every LOYALTY_* a service sets is a variable
// loyaltyd reads (a misspelt one is silently ignored, leaving the default), and each loyaltyd
// service's whole environment loads: roles, durations, replicas are values it accepts.
func TestComposeEnvironmentIsWhatLoyaltydReads(t *testing.T) {
	c := loadCompose(t)
	known := config.Variables()
	loyaltyd := 0
	for name, s := range c.Services {
		env := s.env(t)
		for k := range env {
			if strings.HasPrefix(k, "LOYALTY_") {
				_, ok := known[k]
				assert.True(t, ok, "service %s sets %s, which loyaltyd does not read", name, k)
			}
		}
		if !s.isLoyaltyd() {
			continue
		}
		loyaltyd++
		for k := range known {
			t.Setenv(k, "") // unset: the service's file, not this machine, decides
			os.Unsetenv(k)
		}
		for k, v := range env {
			t.Setenv(k, interpolate(v))
		}
		cfg, err := config.Load()
		if assert.NoError(t, err, "service %s", name) {
			assert.NotEqual(t, []string{"all"}, cfg.Roles, "service %s runs every role: the fleet splits them", name)
			assert.NotEmpty(t, cfg.NATSURL, "service %s would run its own embedded NATS", name)
			assert.NotEmpty(t, cfg.CourierURL, "service %s would run its own courier simulator", name)
			assert.NotEmpty(t, cfg.JWTSecret, "service %s would generate its own JWT secret", name)
		}
	}
	assert.GreaterOrEqual(t, loyaltyd, 5)
}

// roles maps each loyaltyd service to its roles.
func roles(t *testing.T, c composeFile) map[string][]string {
	out := map[string][]string{}
	for name, s := range c.Services {
		if s.isLoyaltyd() {
			out[name] = strings.Split(s.env(t)["LOYALTY_ROLES"], ",")
		}
	}
	return out
}

// TestComposeSplitsEveryRole: each role runs somewhere, the api in two processes, and the
// proxy sends the API to exactly the api processes.
func TestComposeSplitsEveryRole(t *testing.T) {
	c := loadCompose(t)
	byRole := map[string][]string{}
	for name, rs := range roles(t, c) {
		for _, r := range rs {
			byRole[strings.TrimSpace(r)] = append(byRole[strings.TrimSpace(r)], name)
		}
	}
	for _, r := range config.KnownRoles {
		assert.NotEmpty(t, byRole[r], "no service runs the %s role", r)
	}
	assert.Len(t, byRole["api"], 2, "two api processes")

	nginx, err := os.ReadFile(filepath.Join(root, "deploy", "nginx.conf"))
	require.NoError(t, err)
	var upstream []string
	for _, m := range regexp.MustCompile(`(?m)^\s*server\s+([a-z0-9-]+):8080\b`).FindAllStringSubmatch(string(nginx), -1) {
		upstream = append(upstream, m[1])
	}
	apis := slices.Clone(byRole["api"])
	sort.Strings(apis)
	sort.Strings(upstream)
	assert.Equal(t, apis, upstream, "deploy/nginx.conf's upstream is not the api services")
	assert.Contains(t, string(c.Services["proxy"].Image), "nginx")
}

// TestComposeNATSIsOneClusterOfThree: the servers route to each other under one cluster name,
// every loyaltyd lists all of them, and the streams' replicas fit in the cluster.
func TestComposeNATSIsOneClusterOfThree(t *testing.T) {
	c := loadCompose(t)
	var servers []string
	clusterNames := map[string]bool{}
	for name, s := range c.Services {
		if !strings.HasPrefix(s.Image, "nats:") {
			continue
		}
		servers = append(servers, name)
		flags := map[string]string{}
		for i := 0; i+1 < len(s.Command); i++ {
			flags[s.Command[i]] = s.Command[i+1]
		}
		assert.Contains(t, s.Command, "--jetstream", name)
		assert.Equal(t, name, flags["--name"], "%s: server names must differ", name)
		clusterNames[flags["--cluster_name"]] = true
		routes := flags["--routes"]
		for other := range c.Services {
			if other != name && strings.HasPrefix(c.Services[other].Image, "nats:") {
				assert.Contains(t, routes, "nats://"+other+":6222", "%s does not route to %s", name, other)
			}
		}
	}
	require.Len(t, servers, 3)
	assert.Len(t, clusterNames, 1, "one cluster name")
	for name, s := range c.Services {
		if !s.isLoyaltyd() {
			continue
		}
		env := s.env(t)
		for _, srv := range servers {
			assert.Contains(t, env["LOYALTY_NATS_URL"], "nats://"+srv+":4222", "%s does not know %s", name, srv)
		}
		replicas, err := strconv.Atoi(env["LOYALTY_NATS_REPLICAS"])
		require.NoError(t, err, name)
		assert.Equal(t, len(servers), replicas, "%s: streams on every server, so any one may go", name)
	}
}

// TestComposeConnectionsFitPostgreSQL: every loyaltyd's pool and dedicated connections, and an
// operator's loyaltyctl, within the server's max_connections (3 reserved for superusers) with
// room for psql and monitoring.
func TestComposeConnectionsFitPostgreSQL(t *testing.T) {
	c := loadCompose(t)
	pg := c.Services["postgres"]
	maxConns := 100
	for i, a := range pg.Command {
		if a == "-c" && i+1 < len(pg.Command) && strings.HasPrefix(pg.Command[i+1], "max_connections=") {
			n, err := strconv.Atoi(strings.TrimPrefix(pg.Command[i+1], "max_connections="))
			require.NoError(t, err)
			maxConns = n
		}
	}
	def, err := strconv.Atoi(config.Variables()["LOYALTY_DB_MAX_CONNS"])
	require.NoError(t, err)
	used := def + config.DedicatedConns // loyaltyctl
	var parts []string
	for name, s := range c.Services {
		if !s.isLoyaltyd() {
			continue
		}
		n := def
		if v, ok := s.env(t)["LOYALTY_DB_MAX_CONNS"]; ok {
			n, err = strconv.Atoi(interpolate(v))
			require.NoError(t, err, name)
		}
		used += n + config.DedicatedConns
		parts = append(parts, fmt.Sprintf("%s %d", name, n+config.DedicatedConns))
	}
	assert.LessOrEqual(t, used, maxConns-3-10, "max_connections=%d, used %d: %v", maxConns, used, parts)
}

// TestDockerfileBuildsAStaticNonRootImageThatChecksItsHealth reads the Dockerfile's final
// stage: no engine runs here to build it.
func TestDockerfileBuildsAStaticNonRootImageThatChecksItsHealth(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	require.NoError(t, err)
	df := string(raw)
	stages := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(df, -1)
	require.GreaterOrEqual(t, len(stages), 2, "a build stage and a runtime stage")
	final := stages[len(stages)-1][1]
	assert.True(t, strings.Contains(final, "distroless/static") || strings.Contains(final, "alpine") || final == "scratch",
		"the runtime base %s is not a small one", final)
	assert.Contains(t, df, "CGO_ENABLED=0", "a static binary")
	last := df[strings.LastIndex(df, "\nFROM "):]
	user := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindStringSubmatch(last)
	require.NotNil(t, user, "the runtime stage sets no USER")
	assert.NotContains(t, []string{"root", "0", "0:0"}, user[1])
	assert.Regexp(t, `(?m)^HEALTHCHECK .*\n?.*CMD \["/usr/local/bin/loyaltyd", "healthcheck"\]`, last)
	assert.Regexp(t, `(?m)^ENTRYPOINT \["/usr/local/bin/loyaltyd"\]`, last)

	// The build context keeps every file the binaries embed.
	ignore, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	require.NoError(t, err)
	for _, line := range strings.Split(string(ignore), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for _, kept := range []string{"infra", "cmd", "domain", "commands", "projections", "readmodels", "go.mod", "go.sum"} {
			assert.NotEqual(t, kept, strings.TrimSuffix(strings.TrimPrefix(line, "/"), "/"), ".dockerignore drops %s", kept)
		}
	}
}

// TestREADMEConfigurationListsEveryVariable: the README's table is how operators learn the
// variables the compose file sets.
func TestREADMEConfigurationListsEveryVariable(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	for name := range config.Variables() {
		assert.True(t, strings.Contains(string(raw), "| `"+name+"` |"), "README.md's Configuration table lacks %s", name)
	}
}
