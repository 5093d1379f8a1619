package sqlstore

import (
	"context"

	"github.com/tether-id/tether/core"
)

const userColumns = `id, email, email_verified, nickname, avatar, password_hash, status, permissions, language, created_at`

var (
	insertUser = sqlText(`INSERT INTO users (` + userColumns + `, email_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`)
	selectUser = sqlText(`SELECT ` + userColumns + ` FROM users WHERE id = $1`)
	// An address may sit on several accounts, but it belongs to at most
	// one: the account that verified it or signs in with it (a password).
	// That one comes first; otherwise the oldest.
	selectUserByEmail = sqlText(`SELECT ` + userColumns + ` FROM users WHERE email_key = $1
		ORDER BY CASE WHEN email_verified OR password_hash <> '' THEN 0 ELSE 1 END, created_at, {{rowid}} LIMIT 1`)
	selectUsers      = sqlText(`SELECT ` + userColumns + ` FROM users ORDER BY created_at, {{rowid}}`)
	selectUserLocked = sqlText(`SELECT ` + userColumns + ` FROM users WHERE id = $1 {{for_update}}`)
	updateUser       = sqlText(`UPDATE users SET email = $2, email_key = $3, email_verified = $4, nickname = $5, avatar = $6,
		password_hash = $7, status = $8, permissions = $9, language = $10, created_at = $11 WHERE id = $1`)
)

func (q *queries) scanUser(row scanner) (core.User, error) {
	var u core.User
	err := row.Scan(&u.ID, &u.Email, &u.EmailVerified, &u.Nickname, &u.Avatar, &u.PasswordHash,
		&u.Status, q.d.stringsScanner(&u.Permissions), &u.Language, timeCol{&u.CreatedAt})
	return u, err
}

func (q *queries) CreateUser(ctx context.Context, u core.User) error {
	perms, err := q.d.stringsArg(u.Permissions)
	if err != nil {
		return err
	}
	_, err = q.exec(ctx, insertUser, u.ID, u.Email, u.EmailVerified, u.Nickname, u.Avatar, u.PasswordHash,
		string(u.Status), perms, u.Language, q.d.timeArg(u.CreatedAt), core.EmailKey(u.Email))
	if q.d.isUnique(err, "users", "email_key") {
		return core.ErrEmailTaken
	}
	return q.errorf(err, "create user")
}

func (q *queries) GetUser(ctx context.Context, id string) (core.User, error) {
	u, err := q.scanUser(q.queryRow(ctx, selectUser, id))
	return u, q.notFound(err, core.ErrNotFound, "get user")
}

func (q *queries) GetUserByEmail(ctx context.Context, email string) (core.User, error) {
	u, err := q.scanUser(q.queryRow(ctx, selectUserByEmail, core.EmailKey(email)))
	return u, q.notFound(err, core.ErrNotFound, "get user")
}

func (q *queries) ListUsers(ctx context.Context) ([]core.User, error) {
	rows, err := q.query(ctx, selectUsers)
	users, err := collect(rows, err, q.scanUser)
	return users, q.errorf(err, "list users")
}

// lockUser reads the user and, on PostgreSQL, holds its row lock until
// the transaction ends, so that concurrent changes of one account, on any
// instance, apply one after the other. (SQLite's writer is alone.)
func (q *queries) lockUser(ctx context.Context, id string) (core.User, error) {
	return q.scanUser(q.queryRow(ctx, selectUserLocked, id))
}

func (q *queries) UpdateUser(ctx context.Context, id string, update func(*core.User) error) (core.User, error) {
	u, err := q.lockUser(ctx, id)
	if err != nil {
		return core.User{}, q.notFound(err, core.ErrNotFound, "update user")
	}
	if err := update(&u); err != nil {
		return core.User{}, err
	}
	u.ID = id
	perms, err := q.d.stringsArg(u.Permissions)
	if err != nil {
		return core.User{}, err
	}
	_, err = q.exec(ctx, updateUser, id, u.Email, core.EmailKey(u.Email), u.EmailVerified, u.Nickname, u.Avatar,
		u.PasswordHash, string(u.Status), perms, u.Language, q.d.timeArg(u.CreatedAt))
	if q.d.isUnique(err, "users", "email_key") {
		return core.User{}, core.ErrEmailTaken
	}
	if err != nil {
		return core.User{}, q.errorf(err, "update user")
	}
	u.CreatedAt = stored(u.CreatedAt)
	if len(u.Permissions) == 0 {
		u.Permissions = nil
	}
	return u, nil
}
