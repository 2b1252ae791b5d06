package runtoken_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/internal/runtoken"
)

const key = "0123456789abcdef0123456789abcdef-test"

var now = time.Unix(1_800_000_000, 0)

func claims() runtoken.Claims {
	return runtoken.Claims{TenantID: "tnt_a", RunID: "run_1", WorkerID: "w-1", Attempt: 2, Exp: now.Add(30 * time.Second).Unix()}
}

func setup(t *testing.T) (*runtoken.Signer, string) {
	t.Helper()
	s, err := runtoken.New(key)
	require.NoError(t, err)
	tok, err := s.Sign(claims())
	require.NoError(t, err)
	return s, tok
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	s, tok := setup(t)
	require.True(t, runtoken.Is(tok))
	require.Equal(t, 1, strings.Count(tok, "."), "one dot: never mistaken for a JWT")
	got, err := s.Verify(tok, now)
	require.NoError(t, err)
	require.Equal(t, claims(), got)
}

func TestNewRefusesShortKeys(t *testing.T) {
	t.Parallel()
	_, err := runtoken.New(strings.Repeat("k", runtoken.MinKeyLen-1))
	require.Error(t, err)
}

func TestSignRequiresClaims(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	_, err := s.Sign(runtoken.Claims{RunID: "run_1", Exp: 1})
	require.Error(t, err)
}

func TestVerifyRefuses(t *testing.T) {
	t.Parallel()
	s, tok := setup(t)
	body, sig, _ := strings.Cut(tok, ".")
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(body, runtoken.Prefix))
	require.NoError(t, err)
	tampered := runtoken.Prefix + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), "tnt_a", "tnt_b", 1))) + "." + sig

	other, err := runtoken.New(strings.Repeat("x", 40))
	require.NoError(t, err)
	foreign, err := other.Sign(claims())
	require.NoError(t, err)

	cases := map[string]struct {
		tok  string
		want error
		at   time.Time
	}{
		"tampered payload":    {tampered, runtoken.ErrBadSignature, now},
		"tampered signature":  {body + "." + flip(sig), runtoken.ErrBadSignature, now},
		"wrong key":           {foreign, runtoken.ErrBadSignature, now},
		"expired":             {tok, runtoken.ErrExpired, now.Add(30 * time.Second)},
		"long expired":        {tok, runtoken.ErrExpired, now.Add(time.Hour)},
		"empty":               {"", runtoken.ErrMalformed, now},
		"no prefix":           {strings.TrimPrefix(tok, runtoken.Prefix), runtoken.ErrMalformed, now},
		"no signature":        {body, runtoken.ErrMalformed, now},
		"empty payload":       {runtoken.Prefix + "." + sig, runtoken.ErrMalformed, now},
		"two dots (JWT-like)": {tok + ".x", runtoken.ErrMalformed, now},
		"signature not b64":   {body + ".!!!", runtoken.ErrMalformed, now},
		"short signature":     {body + "." + sig[:10], runtoken.ErrMalformed, now},
		"huge":                {runtoken.Prefix + strings.Repeat("a", 5000) + "." + sig, runtoken.ErrMalformed, now},
	}
	for name, c := range cases {
		_, err := s.Verify(c.tok, c.at)
		require.ErrorIs(t, err, c.want, name)
	}
}

// A payload signed with the right key that is not a complete claim set is malformed.
func TestVerifyRefusesSignedGarbage(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	signed := func(payload string) string {
		body := runtoken.Prefix + base64.RawURLEncoding.EncodeToString([]byte(payload))
		h := hmac.New(sha256.New, []byte(key))
		h.Write([]byte(body))
		return body + "." + base64.RawURLEncoding.EncodeToString(h.Sum(nil))
	}
	exp := now.Add(time.Minute).Unix()
	_, err := s.Verify(signed(fmt.Sprintf(`{"tenant_id":"tnt_a","run_id":"run_1","exp":%d}`, exp)), now)
	require.NoError(t, err, "the hand-made signature matches Sign's")
	for name, payload := range map[string]string{
		"not JSON":  "tenant tnt_a",
		"no tenant": fmt.Sprintf(`{"run_id":"run_1","exp":%d}`, exp),
		"no run":    fmt.Sprintf(`{"tenant_id":"tnt_a","exp":%d}`, exp),
		"no exp":    `{"tenant_id":"tnt_a","run_id":"run_1"}`,
		"exp type":  `{"tenant_id":"tnt_a","run_id":"run_1","exp":"soon"}`,
	} {
		_, err := s.Verify(signed(payload), now)
		require.ErrorIs(t, err, runtoken.ErrMalformed, name)
	}
}

func FuzzVerify(f *testing.F) {
	s, err := runtoken.New(key)
	require.NoError(f, err)
	tok, err := s.Sign(claims())
	require.NoError(f, err)
	f.Add(tok)
	f.Add("art_.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := s.Verify(in, now)
		if err == nil {
			require.Equal(t, claims(), c, "only the signed token verifies")
		}
	})
}

func flip(s string) string {
	b := []byte(s)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	return string(b)
}

// A token verified once is remembered, but its expiry is checked on every use, and a
// token that differs from it by a character is verified on its own.
func TestVerifyRemembersOnlyWhatItVerified(t *testing.T) {
	s, err := runtoken.New(key)
	require.NoError(t, err)
	claims := runtoken.Claims{TenantID: "tnt_a", RunID: "run_1", WorkerID: "w", Attempt: 1, Exp: now.Add(time.Minute).Unix()}
	tok, err := s.Sign(claims)
	require.NoError(t, err)
	for range 2 {
		got, err := s.Verify(tok, now)
		require.NoError(t, err)
		require.Equal(t, claims, got)
	}
	_, err = s.Verify(tok, now.Add(time.Minute))
	require.ErrorIs(t, err, runtoken.ErrExpired, "a remembered token still expires")

	body, sig, _ := strings.Cut(tok, ".")
	flipped := []byte(sig)
	flipped[0] ^= 1
	if flipped[0] == '.' {
		flipped[0] = 'A'
	}
	_, err = s.Verify(body+"."+string(flipped), now)
	require.Error(t, err, "a tampered signature is checked, not looked up")

	other, err := runtoken.New(key + "-other")
	require.NoError(t, err)
	_, err = other.Verify(tok, now)
	require.ErrorIs(t, err, runtoken.ErrBadSignature, "what one key verified says nothing for another")
}
