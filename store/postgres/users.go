package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tether-id/tether/core"
)

const userColumns = `id, email, email_verified, nickname, avatar, password_hash, status, permissions, language, created_at`

func scanUser(row pgx.Row) (core.User, error) {
	var u core.User
	var created pgtype.Timestamptz
	err := row.Scan(&u.ID, &u.Email, &u.EmailVerified, &u.Nickname, &u.Avatar, &u.PasswordHash,
		&u.Status, &u.Permissions, &u.Language, &created)
	if err != nil {
		return core.User{}, err
	}
	u.CreatedAt = fromTS(created)
	if len(u.Permissions) == 0 {
		u.Permissions = nil
	}
	return u, nil
}

func permissionsArg(perms []string) []string {
	if perms == nil {
		return []string{}
	}
	return perms
}

func insertUser(ctx context.Context, q querier, u core.User) error {
	_, err := q.Exec(ctx, `INSERT INTO users (`+userColumns+`, email_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		u.ID, u.Email, u.EmailVerified, u.Nickname, u.Avatar, u.PasswordHash,
		string(u.Status), permissionsArg(u.Permissions), u.Language, timeArg(u.CreatedAt), core.EmailKey(u.Email))
	if violates(err, uniqueViolation, "users_email_key") {
		return core.ErrEmailTaken
	}
	if err != nil {
		return fmt.Errorf("postgres: create user: %w", err)
	}
	return nil
}

func (s *Store) CreateUser(ctx context.Context, u core.User) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	return insertUser(ctx, s.pool, u)
}

func (s *Store) GetUser(ctx context.Context, id string) (core.User, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if err != nil {
		return core.User{}, noRows(err, core.ErrNotFound, "get user")
	}
	return u, nil
}

func (s *Store) GetUserByEmail(ctx context.Context, email string) (core.User, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email_key = $1`, core.EmailKey(email)))
	if err != nil {
		return core.User{}, noRows(err, core.ErrNotFound, "get user")
	}
	return u, nil
}

func (s *Store) ListUsers(ctx context.Context) ([]core.User, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY created_at, seq`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list users: %w", err)
	}
	users, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (core.User, error) { return scanUser(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list users: %w", err)
	}
	return users, nil
}

// UpdateUser holds the user's row lock while update runs, so concurrent
// updates of one account, on any instance, apply one after the other.
func (s *Store) UpdateUser(ctx context.Context, id string, update func(*core.User) error) (core.User, error) {
	var out core.User
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		u, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 FOR NO KEY UPDATE`, id))
		if err != nil {
			return noRows(err, core.ErrNotFound, "update user")
		}
		if err := update(&u); err != nil {
			return err
		}
		u.ID = id
		_, err = tx.Exec(ctx, `UPDATE users SET email = $2, email_key = $3, email_verified = $4, nickname = $5, avatar = $6,
			password_hash = $7, status = $8, permissions = $9, language = $10, created_at = $11 WHERE id = $1`,
			id, u.Email, core.EmailKey(u.Email), u.EmailVerified, u.Nickname, u.Avatar,
			u.PasswordHash, string(u.Status), permissionsArg(u.Permissions), u.Language, timeArg(u.CreatedAt))
		if violates(err, uniqueViolation, "users_email_key") {
			return core.ErrEmailTaken
		}
		if err != nil {
			return fmt.Errorf("postgres: update user: %w", err)
		}
		out = u
		return nil
	})
	if err != nil {
		return core.User{}, err
	}
	out.CreatedAt = stored(out.CreatedAt)
	if len(out.Permissions) == 0 {
		out.Permissions = nil
	}
	return out, nil
}
