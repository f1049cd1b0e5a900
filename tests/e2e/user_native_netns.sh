#!/usr/bin/env bash
# user_native_netns.sh - user_netns.sh's promises on the native user-mode engine
# (-netdev user,engine=native): DHCP, DNS, HTTP through 10.0.2.2, 200 concurrent connections,
# guestfwd, IPv6 (router advertisement, ping fec0::2),
# hostfwd (also added and removed at run time), restrict=on. See user_netns.sh.
E2E_NAME=user_native_netns USER_ENGINE=native exec bash "$(dirname "${BASH_SOURCE[0]}")/user_netns.sh"
