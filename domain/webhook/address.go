package webhook

import (
	"fmt"
	"net/netip"
	"strings"
)

// HostNameAllowed refuses names that always mean the platform's own machine or a cloud
// metadata service, before any lookup.
func HostNameAllowed(host string) error {
	if blockedHostNames[strings.ToLower(strings.TrimSuffix(host, "."))] {
		return fmt.Errorf("%w: %s is the local machine or a metadata service", ErrForbiddenAddress, host)
	}
	return nil
}

// blockedHostNames are names of cloud metadata services, refused before any lookup.
var blockedHostNames = map[string]bool{
	"metadata.google.internal": true,
	"metadata":                 true,
	"instance-data":            true,
	"localhost":                true,
}

// blockedPrefixes are ranges no shop endpoint lives in, beyond what netip classifies:
// "this network", carrier-grade NAT, IETF protocol assignments, benchmarking, the AWS IPv6
// metadata address, NAT64's well-known prefix (it reaches IPv4 by the back door) and
// documentation ranges.
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("fd00:ec2::254/128"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// AddrAllowed refuses the addresses a webhook could use to reach inside the platform's own
// network (server-side request forgery): loopback, private, link-local (169.254.169.254, the
// metadata service, is link-local), unspecified, multicast and the ranges above. It is checked
// at registration and again on every connection, so a name that later resolves inward
// (DNS rebinding) is still refused.
func AddrAllowed(a netip.Addr) error {
	a = a.Unmap()
	switch {
	case !a.IsValid():
		return fmt.Errorf("%w: not an address", ErrForbiddenAddress)
	case a.IsLoopback(), a.IsPrivate(), a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast(),
		a.IsInterfaceLocalMulticast(), a.IsMulticast(), a.IsUnspecified():
		return fmt.Errorf("%w: %s is loopback, private, link-local or otherwise internal", ErrForbiddenAddress, a)
	}
	for _, p := range blockedPrefixes {
		if p.Contains(a) {
			return fmt.Errorf("%w: %s is in the reserved range %s", ErrForbiddenAddress, a, p)
		}
	}
	return nil
}
