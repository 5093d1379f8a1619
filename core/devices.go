package core

import (
	"context"
	"errors"
)

// The signed-in devices of an account are its sessions (Sessions); the
// account page lists them and signs any out (RevokeSession) or all but
// the one in use.

// SessionIDOf returns the id of the session the refresh token belongs
// to: the web pages find "this device" by their refresh cookie.
func (s *Service) SessionIDOf(ctx context.Context, refresh string) (string, error) {
	if refresh == "" {
		return "", ErrInvalidToken
	}
	rt, err := s.store.GetRefreshToken(ctx, Hash(refresh))
	if err != nil {
		return "", internal(err)
	}
	return rt.ChainID, nil
}

// RevokeOtherSessions signs out every session of the account except
// keep (the device in use) and the apps' sessions that device started,
// and returns how many it ended.
func (s *Service) RevokeOtherSessions(ctx context.Context, userID, keep string, c Client) (int, error) {
	n := 0
	err := s.store.Update(ctx, func(q Queries) error {
		n = 0
		live, err := q.ListSessions(ctx, userID, s.now())
		if err != nil {
			return err
		}
		for _, ses := range live {
			if ses.ID == keep || (keep != "" && ses.Parent == keep) {
				continue
			}
			if err := q.RevokeSession(ctx, userID, ses.ID, s.now()); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			n++
		}
		if n == 0 {
			return nil
		}
		return q.RecordEvent(ctx, s.event(Event{UserID: userID, Kind: EventOtherSessionsRevoked, Success: true}, c))
	})
	return n, internal(err)
}
