package auth

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/openimi/openimi/internal/problem"
)

// Password length limits, in characters.
const (
	MinPasswordLength = 12
	MaxPasswordLength = 128
)

// argon2id parameters: OWASP's recommended minimum (19 MiB, 2 passes).
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

//go:embed common-passwords.txt
var commonPasswordList []byte

// commonPasswords holds frequently used passwords and the words they are
// usually built from, in lower case.
var commonPasswords = func() map[string]bool {
	m := map[string]bool{}
	s := bufio.NewScanner(bytes.NewReader(commonPasswordList))
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			m[strings.ToLower(line)] = true
		}
	}
	return m
}()

// HashPassword returns an argon2id hash in the PHC string format.
func HashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// dummyHash is verified against when an account does not exist, so that
// answering takes as long as for a real account.
var dummyHash, _ = HashPassword("not a real password, only for timing")

// CheckPassword reports whether password matches an argon2id hash made by
// HashPassword (with whatever parameters it records).
func CheckPassword(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errors.New("auth: not an argon2id hash")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errors.New("auth: unsupported argon2 version")
	}
	var mem, iter uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &iter, &threads); err != nil {
		return false, fmt.Errorf("auth: argon2 parameters: %w", err)
	}
	// argon2 panics on zero threads; zero passes or too little memory
	// would make the hash worthless.
	if threads == 0 || iter == 0 || mem < 8*uint32(threads) {
		return false, errors.New("auth: argon2 parameters out of range")
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, err
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil {
		return false, err
	}
	// An empty key would match every password, a short one is guessable,
	// and a huge one would not fit argon2's uint32 length.
	keyLen := len(want)
	if keyLen < 16 || keyLen > 1024 {
		return false, errors.New("auth: argon2 key length out of range")
	}
	got := argon2.IDKey([]byte(password), salt, iter, mem, threads, uint32(keyLen))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// ValidatePassword checks a new password against the rules: 12 to 128
// characters, not one of the commonest passwords or built from one, not the
// user's e-mail address, and not a single repeated or sequential run.
func ValidatePassword(password, email string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case !utf8.ValidString(password):
		return problem.Field("password", "error_password_invalid")
	case n < MinPasswordLength:
		return problem.Field("password", "error_password_too_short", "Min", MinPasswordLength)
	case n > MaxPasswordLength:
		return problem.Field("password", "error_password_too_long", "Max", MaxPasswordLength)
	}
	lower := strings.ToLower(password)
	local, _, _ := strings.Cut(strings.ToLower(email), "@")
	if commonPasswords[lower] || commonPasswords[core(lower)] || (len(local) >= 4 && strings.Contains(lower, local)) || monotonous(lower) {
		return problem.Field("password", "error_password_common")
	}
	return nil
}

// core strips digits, punctuation and spaces from both ends: "Password2024!"
// becomes "password", which is then looked up among common words.
func core(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return !unicode.IsLetter(r) })
}

// monotonous reports passwords made of one repeated character or of a run
// of consecutive characters ("aaaaaaaaaaaa", "123456789012", "abcdefghijkl").
func monotonous(s string) bool {
	runes := []rune(s)
	same, up, down := true, true, true
	for i := 1; i < len(runes); i++ {
		d := runes[i] - runes[i-1]
		same = same && d == 0
		up = up && (d == 1 || (runes[i] == '0' && runes[i-1] == '9'))
		down = down && d == -1
	}
	return same || up || down
}
