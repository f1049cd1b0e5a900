#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""gen-man.py - write vwire.1 from man/vwire.1.in and the option tables of the vwire binary.

    gen-man.py VWIRE TEMPLATE OUTPUT VERSION SYSCONFDIR DOCDIR

The BACK ENDS, FRONT ENDS and OBJECTS sections are what `vwire -netdev help` and
`vwire -netdev TYPE,help` (and -device, -object) print, so the page and the binary cannot
disagree. The date is SOURCE_DATE_EPOCH's when set (reproducible builds), else today's.
"""
import datetime
import os
import subprocess
import sys


def roff(text):
    """Text safe in a roff line: backslashes escaped, hyphens as minus signs."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text[:1] in (".", "'") else text


def run(vwire, *args):
    out = subprocess.run([vwire, *args], check=True, capture_output=True, text=True)
    return out.stdout.splitlines()


def types_of(vwire, option):
    """The types `OPTION help` lists (the lines after its title)."""
    return [t.strip() for t in run(vwire, option, "help")[1:] if t.strip()]


def options_of(vwire, option, kind):
    """(name, help) pairs of `OPTION KIND,help`."""
    pairs = []
    for line in run(vwire, option, kind + ",help")[1:]:
        name, _, text = line.strip().partition(" ")
        if name:
            pairs.append((name, text.strip()))
    return pairs


def section(vwire, option, intro):
    lines = [intro]
    for kind in types_of(vwire, option):
        lines.append(".SS %s %s" % (roff(option), roff(kind)))
        for name, text in options_of(vwire, option, kind):
            lines += [".TP", ".B " + roff(name), roff(text) if text else ""]
    return "\n".join(line for line in lines if line != "")


def main():
    vwire, template, output, version, sysconfdir, docdir = sys.argv[1:7]
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc)
            if epoch else datetime.datetime.now(datetime.timezone.utc))
    with open(template, encoding="utf-8") as f:
        page = f.read()
    repl = {
        "@NETDEV_OPTIONS@": section(vwire, "-netdev",
                                    "Each \\fB\\-netdev\\fR type and its options, as "
                                    "\\fB\\-netdev \\fITYPE\\fB,help\\fR prints them. Every "
                                    "back end also takes \\fBid\\fR."),
        "@DEVICE_OPTIONS@": section(vwire, "-device",
                                    "The front ends \\fB\\-device\\fR creates, and their "
                                    "options. A device also takes \\fBid\\fR."),
        "@OBJECT_OPTIONS@": section(vwire, "-object",
                                    "The objects \\fB\\-object\\fR creates, and their "
                                    "options. Each takes \\fBid\\fR."),
        "@VERSION@": version,
        "@DATE@": when.strftime("%Y-%m-%d"),
        "@SYSCONFDIR@": sysconfdir,
        "@DOCDIR@": docdir,
    }
    for key, value in repl.items():
        page = page.replace(key, value)
    with open(output, "w", encoding="utf-8") as f:
        f.write(page)


if __name__ == "__main__":
    main()
