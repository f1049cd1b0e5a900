/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bridge.h - running QEMU's bridge helper, which creates a tap, attaches it to a bridge and
 * passes its fd back (used by -netdev bridge and by -netdev tap,helper=).
 */
#ifndef VWIRE_BACKENDS_BRIDGE_H
#define VWIRE_BACKENDS_BRIDGE_H

struct error;

/* QEMU's defaults (DEFAULT_BRIDGE_INTERFACE, DEFAULT_BRIDGE_HELPER). */
#define BRIDGE_DEFAULT_BR "br0"
#define BRIDGE_DEFAULT_HELPER "/usr/lib/qemu/qemu-bridge-helper"

/**
 * bridge_run_helper() - run "@helper --use-vnet --fd=N --br=@br" and receive the tap fd it
 *			 sends over the socket N (SCM_RIGHTS), as QEMU does
 * @helper:	the helper's path (with a space in it, it is run through /bin/sh -c)
 * @br:		the bridge to attach the tap to
 * @err:	on failure, the helper's exit status and what it printed on stderr
 *
 * Return: the tap fd (close-on-exec), or a negative errno with @err set
 */
int bridge_run_helper(const char *helper, const char *br, struct error *err);

#endif
