package auth

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// SecretFile is the name of the generated secret inside the data dir.
const SecretFile = "jwt-secret"

// LoadOrCreateSecret returns the secret kept in dataDir/jwt-secret, generating and storing one
// (mode 0600) when there is none, so loyaltyd restarts and `loyaltyctl token` agree without
// configuration. generated is true when this call created it.
func LoadOrCreateSecret(dataDir string) (secret []byte, generated bool, err error) {
	path := filepath.Join(dataDir, SecretFile)
	if s, err := readSecret(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return s, false, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, false, fmt.Errorf("auth: create data dir: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, false, fmt.Errorf("auth: generate secret: %w", err)
	}
	// Hex so the same value can be pasted into LOYALTY_JWT_SECRET.
	secret = []byte(hex.EncodeToString(raw))

	// Write a temp file and link it into place: the link fails if another process created the
	// secret meanwhile, and nobody ever reads a half-written file.
	tmp, err := os.CreateTemp(dataDir, SecretFile+".tmp*")
	if err != nil {
		return nil, false, fmt.Errorf("auth: write secret: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("auth: write secret: %w", err)
	}
	if _, err := tmp.Write(append(secret, '\n')); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("auth: write secret: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, false, fmt.Errorf("auth: write secret: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			s, err := readSecret(path)
			return s, false, err
		}
		return nil, false, fmt.Errorf("auth: write secret: %w", err)
	}
	return secret, true, nil
}

func readSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := bytes.TrimSpace(b)
	if len(s) == 0 {
		return nil, fmt.Errorf("auth: %s is empty", path)
	}
	return s, nil
}
