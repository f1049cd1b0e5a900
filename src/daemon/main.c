// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * main.c - the vwire daemon: QEMU's command line (-netdev, -object, -device, -readconfig,
 * -pidfile, -daemonize, -D, -name, -qmp), then the event loop until SIGINT/SIGTERM or QMP quit.
 *
 * The arguments are read into an ordered list of items (one per -netdev/-object/-device or
 * -readconfig section); after the optional fork (-daemonize) the items are created in order
 * through netdev_add()/object_add()/device_add(). The first failure is printed naming the
 * option, everything made so far is torn down and the exit status is 1. The QMP sockets
 * are made last, so that a client finds everything the command line asked for.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "config.h"
#include "core/event.h"
#include "core/iothread.h"
#include "core/log.h"
#include "core/netdev.h"
#include "core/unix-socket.h"
#include "daemon/notify.h"
#include "daemon/qmp.h"
#include "daemon/sandbox.h"
#include "vwire/error.h"
#include "vwire/loop.h"
#include "vwire/net.h"
#include "vwire/opts.h"

#define DAEMON_NAME "vwire"
#define DAEMON_STR(x) #x
#define DAEMON_XSTR(x) DAEMON_STR(x)
#define DAEMON_VERSION                                                                       \
	DAEMON_XSTR(QMP_VERSION_MAJOR) "." DAEMON_XSTR(QMP_VERSION_MINOR) "." DAEMON_XSTR(   \
		QMP_VERSION_MICRO)

/* Most -qmp sockets. */
#define DAEMON_MAX_QMP 8

/* Status byte the daemonized child sends its parent through the pipe. */
#define DAEMON_STATUS_OK 0
#define DAEMON_STATUS_FAILED 1

/* Longest line of a -readconfig file. */
#define READCONFIG_LINE_MAX 2048

enum daemon_item_kind {
	DAEMON_ITEM_NETDEV,
	DAEMON_ITEM_OBJECT,
	DAEMON_ITEM_DEVICE,
};

/**
 * struct daemon_item - one thing to create, in command-line order
 * @kind:	-netdev, -object or -device
 * @text:	its option string
 * @origin:	"FILE:LINE" when it came from -readconfig, NULL from the command line
 */
struct daemon_item {
	enum daemon_item_kind kind;
	char *text;
	char *origin;
};

/**
 * struct daemon_config - what the command line asked for
 * @items:	things to create, in order
 * @nitems:	how many
 * @name:	-name (the guest name), or NULL
 * @process:	-name ...,process=: the process name, or NULL
 * @pidfile:	-pidfile, or NULL
 * @logfile:	-D, or NULL
 * @daemonize:	-daemonize
 * @log_level:	raised by -v/-d
 * @qmp:	-qmp option texts, for messages
 * @qmp_path:	their socket paths
 * @nqmp:	how many
 * @sandbox:	-sandbox, -runas, -chroot
 */
struct daemon_config {
	struct daemon_item *items;
	size_t nitems;
	char *name;
	char *process;
	const char *pidfile;
	const char *logfile;
	bool daemonize;
	enum log_level log_level;
	bool log_timestamps;
	const char *qmp[DAEMON_MAX_QMP];
	char *qmp_path[DAEMON_MAX_QMP];
	size_t nqmp;
	struct sandbox_config sandbox;
};

/**
 * struct daemon_state - what the running daemon holds and must undo
 * @loop:		the event loop
 * @pidfile_fd:		the locked pid file, or -1
 * @log:		the -D stream, or NULL
 * @qmp:		the QMP servers
 */
struct daemon_state {
	struct loop *loop;
	int pidfile_fd;
	FILE *log;
	struct qmp_server *qmp[DAEMON_MAX_QMP];
};

/* Write end of the pipe to the waiting parent (-daemonize), or -1. */
static int daemon_status_fd = -1;

/* /dev/null for the detached daemon, opened before -chroot or the sandbox hide it; or -1. */
static int daemon_null_fd = -1;

static const char *const daemon_item_option[] = {
	[DAEMON_ITEM_NETDEV] = "-netdev",
	[DAEMON_ITEM_OBJECT] = "-object",
	[DAEMON_ITEM_DEVICE] = "-device",
};

/*
 * Print "vwire: <message>" on stderr, or, in a daemonized child that has not finished
 * starting, send it to the parent, which prints it and exits with failure.
 */
static void __attribute__((format(printf, 1, 2))) daemon_error(const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	int n;

	n = snprintf(msg, sizeof(msg), DAEMON_NAME ": ");
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	strcat(msg, "\n");
	if (daemon_status_fd >= 0) {
		const char status = DAEMON_STATUS_FAILED;
		ssize_t ignored;

		ignored = write(daemon_status_fd, &status, 1);
		ignored = write(daemon_status_fd, msg, strlen(msg));
		(void)ignored;
		close(daemon_status_fd);
		daemon_status_fd = -1;
		return;
	}
	fputs(msg, stderr);
}

static void daemon_usage(FILE *f)
{
	fprintf(f,
		"usage: " DAEMON_NAME " [options]\n"
		"\n"
		"A standalone network subsystem with QEMU's option syntax.\n"
		"\n"
		"  -netdev TYPE,id=ID[,...]  create a back end (repeatable; -netdev help lists\n"
		"                            the types, -netdev TYPE,help their options)\n"
		"  -object TYPE,id=ID[,...]  create an object (filter-dump, iothread)\n"
		"  -device TYPE[,...]        create a front end (virtio-net, e1000)\n"
		"  -readconfig FILE          read [netdev \"id\"], [object \"id\"] and\n"
		"                            [device \"id\"] sections, as QEMU's -readconfig\n"
		"  -name NAME[,process=P]    name of this instance (and of the process)\n"
		"  -pidfile FILE             write and lock the daemon's pid in FILE\n"
		"  -daemonize                detach once everything has been created\n"
		"  -D FILE                   write the log to FILE\n"
		"  -msg timestamp=on|off     begin log lines with the UTC time, ISO 8601 (on)\n"
		"  -qmp unix:PATH,server=on,wait=off\n"
		"                            QMP control socket (repeatable)\n"
		"  -sandbox on|off[,obsolete=allow|deny][,elevateprivileges=allow|deny|children]\n"
		"          [,spawn=allow|deny][,resourcecontrol=allow|deny]\n"
		"                            seccomp allowlist (on by default)\n"
		"  -runas USER[:GROUP]       drop to this user once everything is created\n"
		"  -chroot DIR               chroot to DIR once everything is created\n"
		"  -v, -d                    more verbose log (debug)\n"
		"  -h, --help                this help\n"
		"  -V, --version             the version\n"
		"\n"
		"Without arguments: user-mode networking behind a virtio-net device on the\n"
		"vhost-user socket $XDG_RUNTIME_DIR/vwire.sock (or /tmp/vwire-UID/vwire.sock),\n"
		"with the QMP socket vwire.qmp next to it (vwirectl's default).\n");
}

static int daemon_add_item(struct daemon_config *cfg, enum daemon_item_kind kind,
			   const char *text, const char *origin)
{
	struct daemon_item *items = realloc(cfg->items, (cfg->nitems + 1) * sizeof(*items));

	if (!items)
		return -ENOMEM;
	cfg->items = items;
	items[cfg->nitems].kind = kind;
	items[cfg->nitems].text = strdup(text);
	items[cfg->nitems].origin = origin ? strdup(origin) : NULL;
	if (!items[cfg->nitems].text || (origin && !items[cfg->nitems].origin)) {
		free(items[cfg->nitems].text);
		free(items[cfg->nitems].origin);
		return -ENOMEM;
	}
	cfg->nitems++;
	return 0;
}

static void daemon_config_free(struct daemon_config *cfg)
{
	for (size_t i = 0; i < cfg->nitems; i++) {
		free(cfg->items[i].text);
		free(cfg->items[i].origin);
	}
	free(cfg->items);
	for (size_t i = 0; i < cfg->nqmp; i++)
		free(cfg->qmp_path[i]);
	free(cfg->name);
	free(cfg->process);
	sandbox_config_free(&cfg->sandbox);
}

/* Append @s to @buf (of @size, holding @*len bytes) with every ',' doubled. */
static int daemon_append_escaped(char *buf, size_t size, size_t *len, const char *s)
{
	for (; *s; s++) {
		if (*len + 3 > size)
			return -ENAMETOOLONG;
		if (*s == ',')
			buf[(*len)++] = ',';
		buf[(*len)++] = *s;
	}
	buf[*len] = '\0';
	return 0;
}

/* MTU of the built-in default: user mode's per-packet cost is what limits it. */
#define DAEMON_DEFAULT_MTU 65520

/*
 * The built-in default when vwire runs without arguments: user-mode networking behind one
 * virtio-net device on the default vhost-user socket, with a large MTU for guests that take
 * it; prints the QEMU command line that attaches a VM.
 */
static int daemon_default_config(struct daemon_config *cfg)
{
#if HAVE_SLIRP
	char sock[PATH_MAX], qmp[PATH_MAX], dev[PATH_MAX + 128], user[64];
	struct error err = { 0 };
	int ret;

	ret = unix_socket_default_path(sock, sizeof(sock), UNIX_SOCKET_DEFAULT_VHOST_USER, &err);
	if (!ret)
		ret = unix_socket_default_path(qmp, sizeof(qmp), UNIX_SOCKET_DEFAULT_QMP, &err);
	if (ret < 0) {
		daemon_error("built-in default: %s", err.msg);
		return ret;
	}
	snprintf(user, sizeof(user), "user,id=user0,mtu=%d", DAEMON_DEFAULT_MTU);
	snprintf(dev, sizeof(dev), "virtio-net,id=vnet0,netdev=user0,mtu=%d,socket=",
		 DAEMON_DEFAULT_MTU);
	{
		size_t len = strlen(dev);

		ret = daemon_append_escaped(dev, sizeof(dev), &len, sock);
	}
	if (!ret)
		ret = daemon_add_item(cfg, DAEMON_ITEM_NETDEV, user, NULL);
	if (!ret)
		ret = daemon_add_item(cfg, DAEMON_ITEM_DEVICE, dev, NULL);
	if (ret < 0) {
		daemon_error("built-in default: %s", strerror(-ret));
		return ret;
	}
	/* The QMP socket vwirectl uses when given none. */
	cfg->qmp_path[0] = strdup(qmp);
	if (!cfg->qmp_path[0]) {
		daemon_error("built-in default: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	cfg->qmp[0] = "unix:" UNIX_SOCKET_DEFAULT_QMP ",server=on,wait=off";
	cfg->nqmp = 1;
	printf("vwire: user-mode networking (10.0.2.0/24, host 10.0.2.2, DNS 10.0.2.3) behind a\n"
	       "virtio-net device on the vhost-user socket %s\n"
	       "(QMP control socket %s: vwirectl uses it)\n"
	       "Attach a VM to it with:\n\n"
	       "  qemu-system-x86_64 -m 1G \\\n"
	       "    -object memory-backend-memfd,id=mem,size=1G,share=on -numa node,memdev=mem \\\n"
	       "    -chardev socket,id=vwire0,path=%s,reconnect=1 \\\n"
	       "    -netdev vhost-user,id=net0,chardev=vwire0 \\\n"
	       "    -device virtio-net-pci,netdev=net0,host_mtu=%d \\\n"
	       "    ...your disk and other options...\n\n",
	       sock, qmp, sock, DAEMON_DEFAULT_MTU);
	fflush(stdout);
	return 0;
#else
	(void)cfg;
	daemon_error("no arguments and no built-in default: this build has no user-mode "
		     "networking (libslirp); see '" DAEMON_NAME " -h'");
	return -ENOTSUP;
#endif
}

/*
 * One -readconfig section being gathered: @kind, its option string so far in @text and
 * where it began. Keys and values are added as ",key=value" with commas escaped.
 */
struct readconfig_section {
	bool open;
	enum daemon_item_kind kind;
	char text[READCONFIG_LINE_MAX * 4];
	size_t len;
	bool has_type;
	unsigned int line;
};

static int readconfig_flush(struct daemon_config *cfg, struct readconfig_section *sec,
			    const char *file)
{
	char origin[512];

	if (!sec->open)
		return 0;
	sec->open = false;
	if (!sec->has_type && sec->kind != DAEMON_ITEM_DEVICE) {
		daemon_error("-readconfig %s:%u: [%s] section has no %s", file, sec->line,
			     daemon_item_option[sec->kind] + 1,
			     sec->kind == DAEMON_ITEM_OBJECT ? "qom-type" : "type");
		return -EINVAL;
	}
	snprintf(origin, sizeof(origin), "%s:%u", file, sec->line);
	return daemon_add_item(cfg, sec->kind, sec->text, origin);
}

/* Start a section from a header line "[netdev "id"]", "[object "id"]" or "[device]". */
static int readconfig_header(struct readconfig_section *sec, const char *line,
			     const char *file, unsigned int lineno)
{
	char group[64], id[256];
	size_t len = 0;
	int end = 0;

	id[0] = '\0';
	/* [group "id"] or [group], and nothing after it. */
	if (sscanf(line, "[%63[^]\" \t] \"%255[^\"]\"]%n", group, id, &end) != 2 &&
	    (end = 0, sscanf(line, "[%63[^]\" \t]]%n", group, &end) != 1))
		end = 0;
	if (!end || line[end + strspn(line + end, " \t\r\n")]) {
		daemon_error("-readconfig %s:%u: parse error", file, lineno);
		return -EINVAL;
	}
	memset(sec, 0, sizeof(*sec));
	if (!strcmp(group, "netdev"))
		sec->kind = DAEMON_ITEM_NETDEV;
	else if (!strcmp(group, "object"))
		sec->kind = DAEMON_ITEM_OBJECT;
	else if (!strcmp(group, "device"))
		sec->kind = DAEMON_ITEM_DEVICE;
	else {
		daemon_error("-readconfig %s:%u: there is no option group '%s' (vwire knows "
			     "netdev, object and device)", file, lineno, group);
		return -EINVAL;
	}
	if (!id[0] && sec->kind != DAEMON_ITEM_DEVICE) {
		daemon_error("-readconfig %s:%u: [%s] needs an id: [%s \"ID\"]", file, lineno,
			     group, group);
		return -EINVAL;
	}
	sec->open = true;
	sec->line = lineno;
	if (id[0]) {
		strcpy(sec->text, "id=");
		len = 3;
		if (daemon_append_escaped(sec->text, sizeof(sec->text), &len, id) < 0)
			return -ENAMETOOLONG;
	}
	sec->len = len;
	return 0;
}

/* Split 'key = "value"' (nothing else on the line); 0 or -EINVAL. */
static int readconfig_split(const char *line, char *key, size_t keysz, char *value,
			    size_t valsz)
{
	const char *p = line + strspn(line, " \t");
	size_t n = strcspn(p, " \t=\"");

	if (!n || n >= keysz)
		return -EINVAL;
	memcpy(key, p, n);
	key[n] = '\0';
	p += n;
	p += strspn(p, " \t");
	if (*p++ != '=')
		return -EINVAL;
	p += strspn(p, " \t");
	if (*p++ != '"')
		return -EINVAL;
	n = strcspn(p, "\"");
	if (p[n] != '"' || n >= valsz)
		return -EINVAL;
	memcpy(value, p, n);
	value[n] = '\0';
	p += n + 1;
	p += strspn(p, " \t\r\n");
	return *p ? -EINVAL : 0;
}

/* Add a 'key = "value"' line to the open section; the type key goes first. */
static int readconfig_pair(struct readconfig_section *sec, const char *line, const char *file,
			   unsigned int lineno)
{
	char key[64], value[READCONFIG_LINE_MAX];
	const char *type_key;
	char *text = sec->text;
	size_t len = sec->len;
	int ret = 0;

	if (readconfig_split(line, key, sizeof(key), value, sizeof(value)) < 0) {
		daemon_error("-readconfig %s:%u: parse error", file, lineno);
		return -EINVAL;
	}
	if (!sec->open) {
		daemon_error("-readconfig %s:%u: no group defined", file, lineno);
		return -EINVAL;
	}
	if (strchr(key, ',')) {
		daemon_error("-readconfig %s:%u: invalid key '%s'", file, lineno, key);
		return -EINVAL;
	}
	type_key = sec->kind == DAEMON_ITEM_NETDEV ? "type" :
		   sec->kind == DAEMON_ITEM_OBJECT ? "qom-type" : "driver";
	if (!strcmp(key, type_key)) {
		/* The type leads the string: build "value,<what we had>". */
		char rest[sizeof(sec->text)];

		if (sec->has_type) {
			daemon_error("-readconfig %s:%u: %s given twice", file, lineno, key);
			return -EINVAL;
		}
		memcpy(rest, text, len + 1);
		len = 0;
		text[0] = '\0';
		ret = daemon_append_escaped(text, sizeof(sec->text), &len, value);
		if (!ret && rest[0] && len + 1 + strlen(rest) < sizeof(sec->text)) {
			text[len++] = ',';
			strcpy(text + len, rest);
			len += strlen(rest);
		} else if (!ret && rest[0]) {
			ret = -ENAMETOOLONG;
		}
		sec->has_type = true;
	} else {
		if (len + 2 + strlen(key) >= sizeof(sec->text))
			ret = -ENAMETOOLONG;
		if (!ret) {
			len += (size_t)sprintf(text + len, "%s%s=", len ? "," : "", key);
			ret = daemon_append_escaped(text, sizeof(sec->text), &len, value);
		}
	}
	if (ret < 0) {
		daemon_error("-readconfig %s:%u: section too long", file, lineno);
		return ret;
	}
	sec->len = len;
	return 0;
}

/*
 * -readconfig FILE: QEMU's INI-like format. Each [netdev "id"] / [object "id"] / [device]
 * section becomes an option string ("tap,id=id,ifname=x", commas in values doubled), queued
 * like the same -netdev/-object/-device given on the command line. '#' starts a comment.
 */
static int daemon_readconfig(struct daemon_config *cfg, const char *file)
{
	struct readconfig_section *sec = calloc(1, sizeof(*sec));
	char line[READCONFIG_LINE_MAX];
	unsigned int lineno = 0;
	FILE *f;
	int ret = 0;

	if (!sec)
		return -ENOMEM;
	f = fopen(file, "r");
	if (!f) {
		ret = -errno;
		daemon_error("-readconfig %s: cannot open: %s", file, strerror(errno));
		free(sec);
		return ret;
	}
	while (fgets(line, sizeof(line), f)) {
		char *p = line;

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			daemon_error("-readconfig %s:%u: line too long", file, lineno);
			ret = -EINVAL;
			break;
		}
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\n' || *p == '\r' || *p == '#' || !*p)
			continue;
		if (*p == '[') {
			ret = readconfig_flush(cfg, sec, file);
			if (!ret)
				ret = readconfig_header(sec, p, file, lineno);
		} else {
			ret = readconfig_pair(sec, p, file, lineno);
		}
		if (ret < 0)
			break;
	}
	if (!ret && ferror(f)) {
		ret = -EIO;
		daemon_error("-readconfig %s: read error", file);
	}
	if (!ret)
		ret = readconfig_flush(cfg, sec, file);
	fclose(f);
	free(sec);
	return ret;
}

/*
 * -netdev help, -netdev TYPE,help (also -object/-device TYPE,help): print and return 1;
 * return 0 when @text asks for no help, negative on an unknown type.
 */
static int daemon_option_help(const char *option, const char *text, const char *type_key)
{
	struct opts o;
	const char *type;
	int ret;

	if (!strcmp(text, "help") || !strcmp(text, "?"))
		return netdev_help_types(option, stdout) < 0 ? 0 : 1;
	if (opts_parse(text, type_key, &o, NULL) < 0)
		return 0;
	ret = 0;
	type = opts_get(&o, type_key);
	if (type && (opts_get(&o, "help") || opts_get(&o, "?"))) {
		ret = netdev_help(type, stdout) < 0 ? -ENOENT : 1;
		if (ret < 0)
			daemon_error("%s %s: no such type '%s'", option, text, type);
	}
	opts_free(&o);
	return ret;
}

static int daemon_parse_name(struct daemon_config *cfg, const char *text)
{
	struct error err = { 0 };
	struct opts o;
	const char *v;
	int ret;

	ret = opts_parse(text, "guest", &o, &err);
	if (ret < 0) {
		daemon_error("-name %s: %s", text, err.msg);
		return ret;
	}
	v = opts_get(&o, "guest");
	free(cfg->name);
	cfg->name = v ? strdup(v) : NULL;
	v = opts_get(&o, "process");
	free(cfg->process);
	cfg->process = v ? strdup(v) : NULL;
	opts_get(&o, "debug-threads"); /* accepted: iothreads are always named "IO <id>" */
	ret = opts_check_unused(&o, "-name", &err);
	if (ret < 0)
		daemon_error("-name %s: %s", text, err.msg);
	opts_free(&o);
	return ret;
}

/* -msg timestamp=on|off (QEMU's option; guest-name=on|off is taken and has nothing to add). */
static int daemon_parse_msg(struct daemon_config *cfg, const char *text)
{
	struct error err = { 0 };
	struct opts o;
	const char *v;
	int ret;

	ret = opts_parse(text, "timestamp", &o, &err);
	if (ret < 0) {
		daemon_error("-msg %s: %s", text, err.msg);
		return ret;
	}
	v = opts_get(&o, "timestamp");
	/* A bare "timestamp" is QEMU's short form of timestamp=on. */
	if (v && !strcmp(v, "timestamp"))
		v = "on";
	if (v && opts_parse_bool(v, &cfg->log_timestamps) < 0) {
		daemon_error("-msg %s: timestamp=%s: expected on or off", text, v);
		opts_free(&o);
		return -EINVAL;
	}
	v = opts_get(&o, "guest-name");
	if (v && opts_parse_bool(v, &(bool){ false }) < 0) {
		daemon_error("-msg %s: guest-name=%s: expected on or off", text, v);
		opts_free(&o);
		return -EINVAL;
	}
	ret = opts_check_unused(&o, "-msg", &err);
	if (ret < 0)
		daemon_error("-msg %s: %s", text, err.msg);
	opts_free(&o);
	return ret;
}

/*
 * -qmp unix:PATH,server=on,wait=off (or QEMU's older unix:PATH,server,nowait): vwire
 * listens and never waits for a client before running, so wait=on is refused.
 */
static int daemon_parse_qmp(struct daemon_config *cfg, const char *text)
{
	struct error err = { 0 };
	const char *addr, *v;
	struct opts o;
	bool b;
	int ret;

	if (cfg->nqmp == DAEMON_MAX_QMP) {
		daemon_error("-qmp %s: at most %d QMP sockets", text, DAEMON_MAX_QMP);
		return -E2BIG;
	}
	ret = opts_parse(text, "addr", &o, &err);
	if (ret < 0) {
		daemon_error("-qmp %s: %s", text, err.msg);
		return ret;
	}
	ret = -EINVAL;
	addr = opts_get(&o, "addr");
	if (!addr || strncmp(addr, "unix:", 5) || !addr[5]) {
		error_set(&err, -EINVAL, "only unix:PATH sockets are supported");
		goto out;
	}
	v = opts_get(&o, "server");
	if (!v || opts_parse_bool(v, &b) < 0 || !b) {
		error_set(&err, -EINVAL, "server=on is required (vwire listens for clients)");
		goto out;
	}
	v = opts_get(&o, "wait");
	if (v && (opts_parse_bool(v, &b) < 0 || b)) {
		error_set(&err, -EINVAL, "wait=%s: only wait=off is supported", v);
		goto out;
	}
	v = opts_get(&o, "nowait");
	if (v && (opts_parse_bool(v, &b) < 0 || !b)) {
		error_set(&err, -EINVAL, "nowait=%s: only nowait is supported", v);
		goto out;
	}
	ret = opts_check_unused(&o, "-qmp", &err);
	if (ret < 0)
		goto out;
	cfg->qmp_path[cfg->nqmp] = strdup(addr + 5);
	if (!cfg->qmp_path[cfg->nqmp]) {
		ret = error_set(&err, -ENOMEM, "out of memory");
		goto out;
	}
	cfg->qmp[cfg->nqmp++] = text;
	ret = 0;
out:
	if (ret < 0)
		daemon_error("-qmp %s: %s", text, err.msg);
	opts_free(&o);
	return ret;
}

/*
 * Read argv into @cfg. Return 0 to go on, 1 when the work is done (help, version), or a
 * negative errno after printing why.
 */
static int daemon_parse_args(struct daemon_config *cfg, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i];
		const char *arg = i + 1 < argc ? argv[i + 1] : NULL;
		int ret = 0;

		/* QEMU accepts --option as -option. */
		if (opt[0] == '-' && opt[1] == '-' && opt[2])
			opt++;
		if (!strcmp(opt, "-h") || !strcmp(opt, "-help")) {
			daemon_usage(stdout);
			return 1;
		}
		if (!strcmp(opt, "-V") || !strcmp(opt, "-version")) {
			printf(DAEMON_NAME " version " DAEMON_VERSION "\n");
			return 1;
		}
		if (!strcmp(opt, "-v") || !strcmp(opt, "-d")) {
			cfg->log_level = LOG_LEVEL_DEBUG;
			continue;
		}
		if (!strcmp(opt, "-daemonize")) {
			cfg->daemonize = true;
			continue;
		}
		if (strcmp(opt, "-netdev") && strcmp(opt, "-object") && strcmp(opt, "-device") &&
		    strcmp(opt, "-readconfig") && strcmp(opt, "-name") && strcmp(opt, "-pidfile") &&
		    strcmp(opt, "-D") && strcmp(opt, "-qmp") && strcmp(opt, "-msg") &&
		    !sandbox_is_option(opt)) {
			daemon_error("%s: invalid option (see '" DAEMON_NAME " -h')", argv[i]);
			return -EINVAL;
		}
		if (!arg) {
			daemon_error("%s: requires an argument", argv[i]);
			return -EINVAL;
		}
		i++;
		if (!strcmp(opt, "-netdev")) {
			ret = daemon_option_help(opt, arg, "type");
			if (!ret)
				ret = daemon_add_item(cfg, DAEMON_ITEM_NETDEV, arg, NULL);
		} else if (!strcmp(opt, "-object")) {
			ret = daemon_option_help(opt, arg, "qom-type");
			if (!ret)
				ret = daemon_add_item(cfg, DAEMON_ITEM_OBJECT, arg, NULL);
		} else if (!strcmp(opt, "-device")) {
			ret = daemon_option_help(opt, arg, "driver");
			if (!ret)
				ret = daemon_add_item(cfg, DAEMON_ITEM_DEVICE, arg, NULL);
		} else if (!strcmp(opt, "-readconfig")) {
			ret = daemon_readconfig(cfg, arg);
		} else if (!strcmp(opt, "-name")) {
			ret = daemon_parse_name(cfg, arg);
		} else if (!strcmp(opt, "-qmp")) {
			ret = daemon_parse_qmp(cfg, arg);
		} else if (!strcmp(opt, "-msg")) {
			ret = daemon_parse_msg(cfg, arg);
		} else if (sandbox_is_option(opt)) {
			struct error err = { 0 };

			ret = sandbox_parse_option(&cfg->sandbox, opt, arg, &err);
			if (ret < 0 && ret != -ENOMEM)
				daemon_error("%s %s: %s", opt, arg, err.msg);
		} else if (!strcmp(opt, "-pidfile")) {
			cfg->pidfile = arg;
		} else {
			cfg->logfile = arg;
		}
		if (ret == -ENOMEM)
			daemon_error("out of memory");
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * -daemonize, as QEMU's os_daemonize(): fork; the parent waits on a pipe until the child
 * reports that everything was created (exit 0) or sends its error (printed, exit 1). The
 * child starts a new session and forks again so that the daemon is no session leader.
 * Returns only in the daemon.
 */
static void daemon_fork(void)
{
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0) {
		daemon_error("-daemonize: pipe: %s", strerror(errno));
		exit(1);
	}
	pid = fork();
	if (pid < 0) {
		daemon_error("-daemonize: fork: %s", strerror(errno));
		exit(1);
	}
	if (pid > 0) {
		char buf[2048];
		ssize_t n;
		size_t got = 0;

		close(fds[1]);
		while (got < sizeof(buf) - 1) {
			n = read(fds[0], buf + got, sizeof(buf) - 1 - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		buf[got] = '\0';
		if (got >= 1 && buf[0] == DAEMON_STATUS_OK)
			exit(0);
		if (got > 1)
			fputs(buf + 1, stderr);
		else
			fprintf(stderr, DAEMON_NAME ": the daemon exited while starting\n");
		exit(1);
	}
	close(fds[0]);
	daemon_status_fd = fds[1];
	daemon_null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	setsid();
	pid = fork();
	if (pid < 0) {
		daemon_error("-daemonize: fork: %s", strerror(errno));
		exit(1);
	}
	if (pid > 0)
		_exit(0);
	umask(027);
	signal(SIGTSTP, SIG_IGN);
	signal(SIGTTOU, SIG_IGN);
	signal(SIGTTIN, SIG_IGN);
}

/* Tell the waiting parent that the daemon is up, and detach from the terminal. */
static void daemon_detach(void)
{
	const char status = DAEMON_STATUS_OK;
	int null = daemon_null_fd;

	if (daemon_status_fd < 0)
		return;
	daemon_null_fd = -1;
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	if (write(daemon_status_fd, &status, 1) != 1)
		log_warn("cannot report to the parent process: %s", strerror(errno));
	close(daemon_status_fd);
	daemon_status_fd = -1;
}

/*
 * -pidfile, as QEMU's qemu_write_pidfile(): create, lock (lockf) for the daemon's life and
 * write the pid; retry if the file was replaced between open and lock.
 */
static int daemon_write_pidfile(const char *path, struct error *err)
{
	char buf[32];
	int fd, len;

	for (;;) {
		struct stat a, b;

		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			return error_set(err, -errno, "cannot open pid file: %s", strerror(errno));
		if (fstat(fd, &b) < 0) {
			error_set(err, -errno, "cannot stat pid file: %s", strerror(errno));
			goto fail;
		}
		if (lockf(fd, F_TLOCK, 0) < 0) {
			error_set(err, -errno, "cannot lock pid file: %s", strerror(errno));
			goto fail;
		}
		/* The file may have been unlinked by the instance that held the lock. */
		if (stat(path, &a) < 0) {
			close(fd);
			continue;
		}
		if (a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			break;
		close(fd);
	}
	if (ftruncate(fd, 0) < 0) {
		error_set(err, -errno, "cannot truncate pid file: %s", strerror(errno));
		goto fail_unlink;
	}
	len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (write(fd, buf, (size_t)len) != len) {
		error_set(err, -EIO, "cannot write pid file: %s", strerror(errno));
		goto fail_unlink;
	}
	return fd;
fail_unlink:
	unlink(path);
fail:
	close(fd);
	return err ? err->code : -EIO;
}

/* Whether @s names @id (NULL names nothing); frees @s. */
static bool daemon_names(char *s, const char *id)
{
	bool same = s && !strcmp(s, id);

	free(s);
	return same;
}

/*
 * The iothread the command line's netdev @id is made on: that of the -device peered with it
 * (iothread=), directly or through the hubport peered with it; NULL: the main loop. Peers
 * run on one thread, and a netdev is made before the device that names it.
 */
static char *daemon_netdev_iothread(const struct daemon_config *cfg, const char *id,
				    unsigned int depth)
{
	for (size_t i = 0; i < cfg->nitems && depth < 4; i++) {
		const struct daemon_item *it = &cfg->items[i];
		char *port;

		if (it->kind == DAEMON_ITEM_DEVICE &&
		    daemon_names(opts_peek(it->text, "driver", "netdev"), id))
			return opts_peek(it->text, "driver", "iothread");
		if (it->kind != DAEMON_ITEM_NETDEV ||
		    !daemon_names(opts_peek(it->text, "type", "type"), "hubport") ||
		    !daemon_names(opts_peek(it->text, "type", "netdev"), id))
			continue;
		port = opts_peek(it->text, "type", "id");
		if (port) {
			char *io = daemon_netdev_iothread(cfg, port, depth + 1);

			free(port);
			return io;
		}
	}
	return NULL;
}

/* The loop a command line's netdev is made on (see daemon_netdev_iothread()). */
static struct loop *daemon_netdev_loop(const struct daemon_config *cfg, const char *text,
				       struct loop *main_loop)
{
	char *id = opts_peek(text, "type", "id");
	char *io_id = id ? daemon_netdev_iothread(cfg, id, 0) : NULL;
	struct iothread *io = io_id ? iothread_find(io_id) : NULL;

	free(id);
	free(io_id);
	return io ? iothread_loop(io) : main_loop;
}

/*
 * Create every item in order, -object iothread first (as QEMU makes them before netdevs and
 * devices); print the first failure.
 */
static int daemon_create_items(const struct daemon_config *cfg, struct loop *loop)
{
	for (size_t k = 0; k < 2 * cfg->nitems; k++) {
		const struct daemon_item *it = &cfg->items[k % cfg->nitems];
		struct error err = { 0 };
		bool early;
		int ret;

		early = it->kind == DAEMON_ITEM_OBJECT &&
			daemon_names(opts_peek(it->text, "qom-type", "qom-type"), "iothread");
		if (early != (k < cfg->nitems))
			continue;
		switch (it->kind) {
		case DAEMON_ITEM_NETDEV:
			ret = netdev_add(daemon_netdev_loop(cfg, it->text, loop), it->text, &err);
			break;
		case DAEMON_ITEM_OBJECT:
			ret = object_add(loop, it->text, &err);
			break;
		default:
			ret = device_add(loop, it->text, &err);
			break;
		}
		if (ret < 0) {
			if (!err.msg[0])
				snprintf(err.msg, sizeof(err.msg), "%s", strerror(-ret));
			daemon_error("%s%s%s %s: %s", it->origin ? it->origin : "",
				     it->origin ? ": " : "", daemon_item_option[it->kind],
				     it->text, err.msg);
			return ret;
		}
	}
	return 0;
}

/* The library's events (core/event.h) go to every QMP socket's clients. */
static void daemon_event_sink(void *opaque, const char *name, struct json_object *data)
{
	struct daemon_state *st = opaque;

	for (size_t i = 0; i < DAEMON_MAX_QMP; i++)
		if (st->qmp[i])
			qmp_server_emit_event(st->qmp[i], name, json_object_get(data));
	json_object_put(data);
}

/* Tell QMP clients why the daemon goes, as QEMU's SHUTDOWN event. */
static void daemon_shutdown_event(struct daemon_state *st, int sig)
{
	bool by_qmp = false;

	for (size_t i = 0; i < DAEMON_MAX_QMP; i++)
		if (st->qmp[i] && qmp_server_quit_requested(st->qmp[i]))
			by_qmp = true;
	for (size_t i = 0; i < DAEMON_MAX_QMP; i++) {
		struct json_object *data;

		if (!st->qmp[i])
			continue;
		data = json_object_new_object();
		json_object_object_add(data, "guest", json_object_new_boolean(false));
		json_object_object_add(data, "reason",
				       json_object_new_string(by_qmp || !sig ? "host-qmp-quit" :
							      "host-signal"));
		qmp_server_emit_event(st->qmp[i], "SHUTDOWN", data);
	}
}

/* Undo everything daemon_start() did; also the orderly shutdown. */
static void daemon_stop(const struct daemon_config *cfg, struct daemon_state *st)
{
	event_sink_clear();
	for (size_t i = 0; i < DAEMON_MAX_QMP; i++) {
		qmp_server_free(st->qmp[i]);
		st->qmp[i] = NULL;
	}
	/* Devices on iothreads are freed from here once their threads have ended. */
	iothread_stop_all();
	net_client_free_all();
	/* Once nothing lives on their loops: freed. */
	iothread_free_all();
	if (st->pidfile_fd >= 0) {
		unlink(cfg->pidfile);
		close(st->pidfile_fd);
		st->pidfile_fd = -1;
	}
	if (st->loop) {
		loop_free(st->loop);
		st->loop = NULL;
	}
	if (st->log) {
		log_set_file(NULL);
		fclose(st->log);
		st->log = NULL;
	}
	notify_close();
}

/*
 * Give up what the running daemon does not need (sandbox.c): CAP_NET_ADMIN stays while QMP
 * may create taps; files stay reachable while anything opens or removes a path.
 */
static int daemon_sandbox(const struct daemon_config *cfg, const struct daemon_state *st)
{
	struct sandbox_needs needs = {
		.net_admin = cfg->nqmp > 0,
		.files = cfg->nqmp > 0 || cfg->pidfile,
		.log_fd = st->log ? fileno(st->log) : -1,
	};
	struct error err = { 0 };
	const char *option;
	int ret;

	for (size_t i = 0; i < cfg->nitems; i++)
		sandbox_needs_item(&needs, daemon_item_option[cfg->items[i].kind],
				   cfg->items[i].text);
	ret = sandbox_apply(&cfg->sandbox, &needs, &err, &option);
	if (ret < 0)
		daemon_error("%s: %s", option, err.msg);
	return ret;
}

/* Set everything up; on failure print why, undo it all and return a negative errno. */
static int daemon_start(const struct daemon_config *cfg, struct daemon_state *st)
{
	struct error err = { 0 };
	int ret;

	if (cfg->logfile) {
		st->log = fopen(cfg->logfile, "a");
		if (!st->log) {
			ret = -errno;
			daemon_error("-D %s: cannot open: %s", cfg->logfile, strerror(errno));
			return ret;
		}
		setvbuf(st->log, NULL, _IOLBF, 0);
		log_set_file(st->log);
	}
	log_set_level(cfg->log_level);
	log_set_timestamps(cfg->log_timestamps);
	/* Before the sandbox and -chroot would hide the service manager's socket. */
	ret = notify_open(&err);
	if (ret < 0) {
		daemon_error("%s", err.msg);
		goto fail;
	}
	if (cfg->process)
		prctl(PR_SET_NAME, cfg->process);
	st->loop = loop_new();
	if (!st->loop) {
		ret = -errno;
		daemon_error("cannot create the event loop: %s", strerror(errno));
		goto fail;
	}
	ret = loop_handle_signals(st->loop);
	if (ret < 0) {
		daemon_error("cannot handle signals: %s", strerror(-ret));
		goto fail;
	}
	if (cfg->pidfile) {
		ret = daemon_write_pidfile(cfg->pidfile, &err);
		if (ret < 0) {
			daemon_error("-pidfile %s: %s", cfg->pidfile, err.msg);
			goto fail;
		}
		st->pidfile_fd = ret;
	}
	/* Threads made now would escape the sandbox (iothread_defer_start()). */
	iothread_defer_start(true);
	/* Before the items, whose connections may come at once; delivered from the loop. */
	if (cfg->nqmp) {
		ret = event_sink_set(st->loop, daemon_event_sink, st);
		if (ret < 0) {
			daemon_error("%s", strerror(-ret));
			goto fail;
		}
	}
	ret = daemon_create_items(cfg, st->loop);
	if (ret < 0)
		goto fail;
	for (size_t i = 0; i < cfg->nqmp; i++) {
		st->qmp[i] = qmp_server_new(st->loop, cfg->qmp_path[i], &err);
		if (!st->qmp[i]) {
			ret = err.code;
			daemon_error("-qmp %s: %s", cfg->qmp[i], err.msg);
			goto fail;
		}
		qmp_server_set_name(st->qmp[i], cfg->name);
	}
	ret = daemon_sandbox(cfg, st);
	if (ret < 0)
		goto fail;
	iothread_defer_start(false);
	ret = iothread_start_all(&err);
	if (ret < 0) {
		daemon_error("-object iothread: %s", err.msg);
		goto fail;
	}
	return 0;
fail:
	daemon_stop(cfg, st);
	return ret;
}

/* Every socket exists: a service manager may start what waits for them (Type=notify). */
static void daemon_notify_ready(void)
{
	char state[64];
	int ret;

	snprintf(state, sizeof(state), "READY=1\nMAINPID=%d", (int)getpid());
	ret = notify_send(state);
	if (ret < 0)
		log_warn("cannot tell the service manager that vwire is ready: %s", strerror(-ret));
}

/*
 * Every flow of user mode holds a host socket: let the daemon open as many files as its hard
 * limit allows (the soft limit is often 1024, a thousand guest connections).
 */
static void daemon_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	struct daemon_config cfg = { .log_level = LOG_LEVEL_INFO, .log_timestamps = true };
	struct daemon_state st = { .pidfile_fd = -1 };
	int ret, sig;

	sandbox_config_init(&cfg.sandbox);
	/* A peer that goes away must not kill the daemon on write. */
	signal(SIGPIPE, SIG_IGN);
	daemon_raise_nofile();
	ret = daemon_parse_args(&cfg, argc, argv);
	if (!ret && argc == 1)
		ret = daemon_default_config(&cfg);
	if (ret) {
		daemon_config_free(&cfg);
		return ret > 0 ? 0 : 1;
	}
	if (cfg.daemonize)
		daemon_fork();
	if (daemon_start(&cfg, &st) < 0) {
		daemon_config_free(&cfg);
		return 1;
	}
	daemon_detach();
	log_info("started%s%s (pid %d)", cfg.name ? ": " : "", cfg.name ? cfg.name : "",
		 (int)getpid());
	daemon_notify_ready();
	ret = loop_run(st.loop);
	if (ret < 0)
		log_error("event loop failed: %s", strerror(-ret));
	sig = loop_quit_signal(st.loop);
	if (sig)
		log_info("terminating on signal %d (%s)", sig, strsignal(sig));
	else
		log_info("terminating");
	daemon_shutdown_event(&st, sig);
	notify_send("STOPPING=1");
	daemon_stop(&cfg, &st);
	daemon_config_free(&cfg);
	return ret < 0 ? 1 : 0;
}
