package auth_test

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/auth"
)

func TestFirstCallGeneratesAPrivateSecretThatLaterCallsReuse(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")

	first, generated, err := auth.LoadOrCreateSecret(dir)
	require.NoError(t, err)
	assert.True(t, generated)
	assert.GreaterOrEqual(t, len(first), 32)

	info, err := os.Stat(filepath.Join(dir, auth.SecretFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	again, generated, err := auth.LoadOrCreateSecret(dir)
	require.NoError(t, err)
	assert.False(t, generated)
	assert.Equal(t, first, again)
}

func TestExistingSecretFileIsUsedAsWritten(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, auth.SecretFile), []byte("  my-secret\n"), 0o600))

	s, generated, err := auth.LoadOrCreateSecret(dir)

	require.NoError(t, err)
	assert.False(t, generated)
	assert.Equal(t, []byte("my-secret"), s)
}

func TestConcurrentFirstCallsAgreeOnOneSecret(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	secrets := make([][]byte, n)
	gens := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, g, err := auth.LoadOrCreateSecret(dir)
			assert.NoError(t, err)
			secrets[i], gens[i] = s, g
		})
	}
	wg.Wait()

	generatedCount := 0
	for i := range n {
		assert.Equal(t, secrets[0], secrets[i])
		if gens[i] {
			generatedCount++
		}
	}
	assert.Equal(t, 1, generatedCount)
}

func TestEmptySecretFileIsAnError(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, auth.SecretFile), nil, 0o600))

	_, _, err := auth.LoadOrCreateSecret(dir)

	assert.Error(t, err)
}
