package apikey_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/impl/modelpolicy/apikey"
	"github.com/nexixai/agentos/internal/db"
	"github.com/nexixai/agentos/internal/dbtest"
)

func TestKeys(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		now := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
		k, secret, err := apikey.Create(ctx, d.DB, "tnt_a", "ci", "", now)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(secret, apikey.Prefix))
		require.Equal(t, "apikey:"+k.ID, k.PrincipalID)
		require.True(t, strings.HasPrefix(secret, k.Display))
		_, other, err := apikey.Create(ctx, d.DB, "tnt_b", "x", "bob", now)
		require.NoError(t, err)

		var stored string
		require.NoError(t, d.NewRaw("SELECT hash FROM model_api_keys WHERE id = ?", k.ID).Scan(ctx, &stored))
		require.NotContains(t, stored, secret[len(apikey.Prefix):], "only the hash is stored")

		got, err := apikey.Lookup(ctx, d.DB, secret)
		require.NoError(t, err)
		require.Equal(t, k, got)
		_, err = apikey.Lookup(ctx, d.DB, secret+"x")
		require.ErrorIs(t, err, apikey.ErrNotFound)

		keys, err := apikey.List(ctx, d.DB, "tnt_a")
		require.NoError(t, err)
		require.Equal(t, []apikey.Key{k}, keys)

		require.ErrorIs(t, apikey.Delete(ctx, d.DB, "tnt_b", k.ID), apikey.ErrNotFound, "another tenant's key is not found")
		c := apikey.NewCache(d.DB, time.Hour)
		_, err = c.Lookup(ctx, secret)
		require.NoError(t, err)
		require.NoError(t, apikey.Delete(ctx, d.DB, "tnt_a", k.ID))
		_, err = c.Lookup(ctx, secret)
		require.NoError(t, err, "still cached")
		c.Invalidate()
		_, err = c.Lookup(ctx, secret)
		require.ErrorIs(t, err, apikey.ErrNotFound)
		got, err = c.Lookup(ctx, other)
		require.NoError(t, err)
		require.Equal(t, "bob", got.PrincipalID)
	})
}
