package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/tether-id/tether/core"
)

const userColumns = `id, email, email_verified, nickname, avatar, password_hash, status, permissions, language, created_at`

func scanUser(row scanner) (core.User, error) {
	var u core.User
	var perms string
	err := row.Scan(&u.ID, &u.Email, &u.EmailVerified, &u.Nickname, &u.Avatar, &u.PasswordHash,
		&u.Status, &perms, &u.Language, nullTime{&u.CreatedAt})
	if err != nil {
		return core.User{}, err
	}
	if err := json.Unmarshal([]byte(perms), &u.Permissions); err != nil {
		return core.User{}, fmt.Errorf("sqlite: permissions of user %s: %w", u.ID, err)
	}
	if len(u.Permissions) == 0 {
		u.Permissions = nil
	}
	return u, nil
}

func permissionsArg(perms []string) (string, error) {
	if perms == nil {
		perms = []string{}
	}
	b, err := json.Marshal(perms)
	return string(b), err
}

func insertUser(ctx context.Context, q querier, u core.User) error {
	perms, err := permissionsArg(u.Permissions)
	if err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, `INSERT INTO users (`+userColumns+`, email_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.EmailVerified, u.Nickname, u.Avatar, u.PasswordHash,
		u.Status, perms, u.Language, timeArg(u.CreatedAt), core.EmailKey(u.Email))
	if isUnique(err, "users.email_key") {
		return core.ErrEmailTaken
	}
	if err != nil {
		return fmt.Errorf("sqlite: create user: %w", err)
	}
	return nil
}

func (s *Store) CreateUser(ctx context.Context, u core.User) error {
	return insertUser(ctx, s.db, u)
}

func getUser(ctx context.Context, q querier, id string) (core.User, error) {
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if err != nil {
		return core.User{}, notFound(err, core.ErrNotFound)
	}
	return u, nil
}

func (s *Store) GetUser(ctx context.Context, id string) (core.User, error) {
	return getUser(ctx, s.read, id)
}

func (s *Store) GetUserByEmail(ctx context.Context, email string) (core.User, error) {
	u, err := scanUser(s.read.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE email_key = ?`, core.EmailKey(email)))
	if err != nil {
		return core.User{}, notFound(err, core.ErrNotFound)
	}
	return u, nil
}

func (s *Store) ListUsers(ctx context.Context) ([]core.User, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY created_at, rowid`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list users: %w", err)
	}
	defer rows.Close()
	var out []core.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list users: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// UpdateUser runs update inside the write transaction, so concurrent
// updates of one account apply one after the other.
func (s *Store) UpdateUser(ctx context.Context, id string, update func(*core.User) error) (core.User, error) {
	var out core.User
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		u, err := getUser(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := update(&u); err != nil {
			return err
		}
		u.ID = id
		perms, err := permissionsArg(u.Permissions)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE users SET email = ?, email_key = ?, email_verified = ?, nickname = ?, avatar = ?,
			password_hash = ?, status = ?, permissions = ?, language = ?, created_at = ? WHERE id = ?`,
			u.Email, core.EmailKey(u.Email), u.EmailVerified, u.Nickname, u.Avatar,
			u.PasswordHash, u.Status, perms, u.Language, timeArg(u.CreatedAt), id)
		if isUnique(err, "users.email_key") {
			return core.ErrEmailTaken
		}
		if err != nil {
			return fmt.Errorf("sqlite: update user: %w", err)
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
