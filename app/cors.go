package app

import (
	"net/http"

	"github.com/tether-id/tether/op"
	"github.com/tether-id/tether/server"
)

// corsRules are the paths that web frontends on other origins
// (cors.allowed_origins) may call from scripts. Each is a ServeMux
// pattern, with or without a method; the most specific wins. Methods and
// headers are listed, never "*". Only the calls that set or read the
// flow-binding cookie (prepare and finish, and Versia's link, which
// prepares) carry credentials; everything else is bearer-token API.
//
// The OpenAPI document is public and answers any origin with "*"
// (without credentials), as it always has: it holds no secret, and
// documentation tools on any site may read it.
//
// A new API path that frontends call gets one line here, e.g.
// {Pattern: "POST /oauth2/token", Methods: post, Headers: authJSON, Expose: exposed}.
var corsRules = []server.CORSRule{
	// Cloudreve v4: the whole API by bearer token...
	{Pattern: "/api/v4/", Methods: []string{get, post, put, del}, Headers: authJSON, Expose: exposed},
	// ...and prepare and finish, which set and read the binding cookie.
	{Pattern: "PUT /api/v4/session/openid", Methods: []string{put}, Headers: authJSON, Expose: exposed, Credentials: true},
	{Pattern: "POST /api/v4/session/openid", Methods: []string{post}, Headers: authJSON, Expose: exposed, Credentials: true},
	// Versia: the SSO routes, of which POST /api/v1/sso prepares a link,
	// and the public instance document.
	{Pattern: "/api/v1/sso", Methods: []string{get, post}, Headers: authJSON, Expose: exposed},
	{Pattern: "POST /api/v1/sso", Methods: []string{post}, Headers: authJSON, Expose: exposed, Credentials: true},
	{Pattern: "/api/v1/sso/", Methods: []string{get, del}, Headers: authJSON, Expose: exposed},
	{Pattern: "/api/v2/instance", Methods: []string{get}, Headers: authJSON, Expose: exposed},
	// The OpenID Provider's endpoints that a single-page app calls from
	// script: a public client redeems its code, refreshes, reads
	// userinfo, revokes, and reads the keys. No cookies: the app
	// authenticates with PKCE, its client id or a bearer token.
	{Pattern: "POST " + op.PathToken, Methods: []string{post}, Headers: authForm, Expose: exposed},
	{Pattern: op.PathUserInfo, Methods: []string{get, post}, Headers: authForm, Expose: exposed},
	{Pattern: "POST " + op.PathRevoke, Methods: []string{post}, Headers: authForm, Expose: exposed},
	{Pattern: "GET " + op.PathJWKS, Methods: []string{get}, Headers: authForm, Expose: exposed},
	// Public documents.
	{Pattern: "GET /api/openapi.json", Methods: []string{get}, AnyOrigin: true},
}

const (
	get  = http.MethodGet
	post = http.MethodPost
	put  = http.MethodPut
	del  = http.MethodDelete
)

var (
	// authJSON are the request headers of tether's APIs: a bearer token
	// and a JSON body.
	authJSON = []string{"Authorization", "Content-Type"}
	// exposed are the response headers a frontend may want to read: the
	// id to quote to an operator, and how long to wait after a 429.
	exposed = []string{"X-Correlation-Id", "Retry-After"}
	// authForm are the request headers of the OpenID Provider's
	// back-channel endpoints: client authentication or a bearer token,
	// and a form body.
	authForm = []string{"Authorization", "Content-Type"}
)
