package core

import (
	"context"
	"errors"
	"time"
)

// PictureFetcher fetches the picture at an upstream URL: its media type
// (sniffed) and its bytes. internal/avatar's Fetch is the one tether
// runs: https and public addresses only, 1 MiB, images only.
type PictureFetcher func(ctx context.Context, url string) (mediaType string, data []byte, err error)

// pictureRetry is how long a failed fetch is remembered before the next
// request tries again.
const pictureRetry = 24 * time.Hour

// pictureTimeout bounds a fetch.
const pictureTimeout = 10 * time.Second

// Avatar returns the account's picture. tether serves pictures itself
// rather than send browsers to the URL an upstream provider gave (which
// would make tether's origin an open redirect): the picture is fetched
// once, through the PictureFetcher, and kept. A new account's picture is
// fetched right after its sign-in, in the background; an older one's at
// its first request here. ErrNotFound when the account has none, or
// fetching it failed.
func (s *Service) Avatar(ctx context.Context, userID string) (Avatar, error) {
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return Avatar{}, internal(err)
	}
	if u.Avatar == "" || s.opts.Pictures == nil {
		return Avatar{}, ErrNotFound
	}
	a, err := s.store.GetAvatar(ctx, userID)
	switch {
	case err != nil && !errors.Is(err, ErrNotFound):
		return Avatar{}, internal(err)
	case err == nil && a.Source == u.Avatar && (a.Type != "" || s.now().Sub(a.FetchedAt) < pictureRetry):
		if a.Type == "" {
			return Avatar{}, ErrNotFound
		}
		return a, nil
	}
	a, err = s.keepPicture(ctx, u)
	if err != nil {
		return Avatar{}, err
	}
	if a.Type == "" {
		return Avatar{}, ErrNotFound
	}
	return a, nil
}

// keepPicture fetches u's picture and keeps it (or the failure).
func (s *Service) keepPicture(ctx context.Context, u User) (Avatar, error) {
	ctx, cancel := context.WithTimeout(ctx, pictureTimeout)
	defer cancel()
	a := Avatar{UserID: u.ID, Source: u.Avatar}
	mediaType, data, err := s.opts.Pictures(ctx, u.Avatar)
	if err != nil {
		s.log.InfoContext(ctx, "upstream picture not kept", "user", u.ID, "err", err)
	} else {
		a.Type, a.Data = mediaType, data
	}
	a.FetchedAt = s.now()
	if err := s.store.SaveAvatar(ctx, a); err != nil {
		return Avatar{}, internal(err)
	}
	return a, nil
}

// keepPictureLater fetches a new account's picture in the background, so
// that the sign-in does not wait for another server.
func (s *Service) keepPictureLater(u User) {
	if u.Avatar == "" || s.opts.Pictures == nil {
		return
	}
	go func() {
		if _, err := s.keepPicture(context.Background(), u); err != nil {
			s.log.Warn("upstream picture not kept", "user", u.ID, "err", err)
		}
	}()
}
