package oidc

// Hooks for the external tests.

// WaitBackground waits for every fetch under way (background refreshes).
func WaitBackground(p *Provider) {
	p.disco.bg.Wait()
	p.keys.bg.Wait()
}

// DiscoveryWaiters is the number of callers blocked on a discovery fetch.
func DiscoveryWaiters(p *Provider) int {
	p.disco.mu.Lock()
	defer p.disco.mu.Unlock()
	return p.disco.waiting
}

const KeyRefetchInterval = keyRefetchInterval
