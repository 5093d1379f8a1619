package provider

import "context"

// Endpoint names the upstream endpoint a request goes to. Provider
// packages put it on the context of each request they send (WithEndpoint),
// and whatever wraps their HTTP client (tether's upstream metrics, in
// package metrics) reads it back (EndpointOf): the provider packages know
// which endpoint they call without knowing about metrics, and the
// wrapper needs no list of discovered URLs.
type Endpoint string

// The endpoints. OpenID Connect's (Logto's too) are discovery, jwks,
// token and userinfo; QQ Connect's are token, me (the openid) and
// get_user_info.
const (
	EndpointDiscovery   Endpoint = "discovery"
	EndpointJWKS        Endpoint = "jwks"
	EndpointToken       Endpoint = "token"
	EndpointUserinfo    Endpoint = "userinfo"
	EndpointMe          Endpoint = "me"
	EndpointGetUserInfo Endpoint = "get_user_info"
)

type endpointKey struct{}

// WithEndpoint returns ctx naming e as the endpoint of the requests sent
// with it.
func WithEndpoint(ctx context.Context, e Endpoint) context.Context {
	return context.WithValue(ctx, endpointKey{}, e)
}

// EndpointOf returns the endpoint that ctx names, "" when none.
func EndpointOf(ctx context.Context) Endpoint {
	e, _ := ctx.Value(endpointKey{}).(Endpoint)
	return e
}
