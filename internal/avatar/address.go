package avatar

import "net/netip"

// Public reports whether ip (an address, not a name) is one a fetch may
// connect to: a global unicast address outside every range that is
// private, shared, reserved or special-purpose (RFC 6890 and its
// successors). IPv4-mapped IPv6 addresses are judged as the IPv4
// address they carry. IPv6 is limited to 2000::/3, the global unicast
// space, which leaves out NAT64 (64:ff9b::/96), whose embedded IPv4
// address could be private.
func Public(ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	if a.Zone() != "" || !a.IsGlobalUnicast() || a.IsPrivate() {
		return false
	}
	if a.Is6() && !globalV6.Contains(a) {
		return false
	}
	for _, p := range special {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

var globalV6 = netip.MustParsePrefix("2000::/3")

// special are the ranges inside the global unicast space that no public
// host has. IsGlobalUnicast already leaves out loopback, link-local,
// multicast, unspecified and the IPv4 broadcast address, and IsPrivate
// 10/8, 172.16/12, 192.168/16 and fc00::/7.
var special = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network"
		"100.64.0.0/10",   // shared address space (CGNAT)
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation (TEST-NET-1)
		"192.88.99.0/24",  // 6to4 relay anycast (deprecated)
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation (TEST-NET-2)
		"203.0.113.0/24",  // documentation (TEST-NET-3)
		"240.0.0.0/4",     // reserved
		"2001::/23",       // IETF protocol assignments (Teredo, ORCHID...)
		"2001:db8::/32",   // documentation
		"2002::/16",       // 6to4, which embeds an IPv4 address
		"3fff::/20",       // documentation
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// isLoopbackHost reports whether host is localhost or a loopback
// address; only tests reach such hosts (Options.AllowLoopback).
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
