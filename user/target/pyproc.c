/*
 * A live process as a target: /proc/PID (its mapped files, name, start
 * time, threads) and its memory; the interpreter lookup itself is
 * pylocate.c's, shared with core files.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "target/mem.h"
#include "target/memsrc.h"
#include "target/pylocate.h"
#include "target/pyproc.h"
#include "util/errbuf.h"

const char *py_version_str(uint32_t v, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u", (v >> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff);
	return buf;
}

const char *proc_stat_fields(pid_t pid, pid_t tid, char *buf, size_t len)
{
	char path[96];
	FILE *f;

	if (len < 2)
		return NULL;
	if (tid > 0)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return NULL;
	size_t n = fread(buf, 1, len - 1, f);

	fclose(f);
	buf[n] = '\0';
	/* comm may contain spaces and parentheses: fields resume after the last ')'. */
	char *p = strrchr(buf, ')');

	return p && p[1] == ' ' ? p + 2 : NULL;
}

uint64_t proc_start_time(pid_t pid)
{
	char line[1024];
	const char *p = proc_stat_fields(pid, 0, line, sizeof(line));

	/* p is at field 3 (state); starttime is field 22 */
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return p ? strtoull(p, NULL, 10) : 0;
}
void proc_cmdline(pid_t pid, char *buf, size_t len)
{
	char path[64];
	FILE *f;
	size_t n = 0;

	if (!len)
		return;
	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	f = fopen(path, "re");
	if (f) {
		n = fread(buf, 1, len - 1, f);
		fclose(f);
	}
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\0' || buf[i] == '\n')
			buf[i] = ' ';
	buf[n] = '\0';
}

int proc_thread_name(pid_t pid, pid_t tid, char *buf, size_t len)
{
	char path[64];
	FILE *f;

	if (!len)
		return -EINVAL;
	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)pid, (int)tid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(buf, (int)len, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* Lists the files mapped into pid, to be opened through /proc/PID/root
 * (the target's own view of the file system: containers work too). */
static int read_maps(pid_t pid, struct pyloc_files *files)
{
	char path[64], line[PATH_MAX + 256], local[PATH_MAX + 32];
	FILE *f;
	int ret = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (!ret && fgets(line, sizeof(line), f)) {
		uint64_t start, end, offset;
		char perms[8];
		int pathpos = 0;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %*s %*s %n",
			   &start, &end, perms, &offset, &pathpos) < 4 || pathpos == 0)
			continue;
		char *p = line + pathpos;

		p[strcspn(p, "\n")] = '\0';
		if (p[0] != '/')
			continue; /* anonymous, [heap], [vdso], ... */
		/* A deleted file still works through /proc/PID/map_files, but keep it simple. */
		snprintf(local, sizeof(local), "/proc/%d/root%s", (int)pid, p);
		ret = pyloc_files_add(files, p, local, start, offset, perms[2] == 'x');
	}
	fclose(f);
	return ret;
}

#define CAP_SYS_PTRACE_BIT 19

/* Is CAP_SYS_PTRACE in this process's effective set (in its own user
 * namespace)? */
static bool have_cap_sys_ptrace(void)
{
	char line[256];
	unsigned long long caps = 0;
	bool found = false;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return geteuid() == 0;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "CapEff: %llx", &caps) == 1;
	fclose(f);
	return found ? (caps >> CAP_SYS_PTRACE_BIT) & 1 : geteuid() == 0;
}

/* Does this process run in a user namespace below the initial one? There
 * the uid map is not the identity over every uid. */
static bool in_child_userns(void)
{
	unsigned long long inside, outside, count;
	char extra[8];
	FILE *f = fopen("/proc/self/uid_map", "re");

	if (!f)
		return false; /* no user namespaces */
	int n = fscanf(f, "%llu %llu %llu", &inside, &outside, &count);
	bool more = fscanf(f, "%7s", extra) == 1;

	fclose(f);
	return n != 3 || inside != 0 || outside != 0 || count != 4294967295ull || more;
}

/* Is pid known to be in this process's user namespace? (Its ns link is
 * itself unreadable when access is refused.) */
static bool same_userns(pid_t pid)
{
	char path[64], mine[64], theirs[64];
	ssize_t a, b;

	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
	a = readlink("/proc/self/ns/user", mine, sizeof(mine) - 1);
	b = readlink(path, theirs, sizeof(theirs) - 1);
	return a > 0 && a == b && memcmp(mine, theirs, (size_t)a) == 0;
}

static int yama_ptrace_scope(void)
{
	int scope = -1;
	FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "re");

	if (f) {
		if (fscanf(f, "%d", &scope) != 1)
			scope = -1;
		fclose(f);
	}
	return scope;
}

/* Access to pid was refused: say by what, as far as can be seen from here,
 * and what would help. Privileges are only the answer when they are missing. */
static void explain_eperm(pid_t pid, char *err, size_t errlen)
{
	int p = (int)pid;

	if (!have_cap_sys_ptrace()) {
		if (geteuid() != 0)
			set_err(err, errlen, "not allowed to inspect PID %d: run as root (or with CAP_SYS_PTRACE)", p);
		else
			set_err(err, errlen, "not allowed to inspect PID %d: pyperf runs as root but without "
				"CAP_SYS_PTRACE (dropped from its capabilities): give it CAP_SYS_PTRACE", p);
	} else if (in_child_userns() && !same_userns(pid)) {
		set_err(err, errlen, "not allowed to inspect PID %d: it is outside pyperf's user namespace, where "
			"root has no CAP_SYS_PTRACE over it: run pyperf in the initial user namespace (on the host)", p);
	} else if (yama_ptrace_scope() == 3) {
		set_err(err, errlen, "not allowed to inspect PID %d: Yama forbids all ptrace access "
			"(kernel.yama.ptrace_scope = 3, kept until reboot): boot with a lower ptrace_scope", p);
	} else {
		set_err(err, errlen, "not allowed to inspect PID %d although pyperf has CAP_SYS_PTRACE: the kernel "
			"refused (EPERM): the process is not dumpable, or a security module (SELinux, AppArmor) "
			"denies ptrace; see the audit log", p);
	}
}

static int classify_errno(int e, pid_t pid, char *err, size_t errlen)
{
	if (e == ENOENT || e == ESRCH) {
		set_err(err, errlen, "no process with PID %d", (int)pid);
		return -PYPROC_ENOPROC;
	}
	if (e == EACCES || e == EPERM) {
		explain_eperm(pid, err, errlen);
		return -PYPROC_EPERM;
	}
	set_err(err, errlen, "failed to read /proc/%d/maps: %s", (int)pid, strerror(e));
	return -PYPROC_ENOPROC;
}

/* A name that says which old Python this is, for the error message. */
static const char *old_python_hint(const struct pyloc_files *files)
{
	for (size_t i = 0; i < files->n; i++) {
		const char *base = pyloc_basename(files->v[i].path);

		if (strncmp(base, "libpython2", 10) == 0 || strncmp(base, "python2", 7) == 0)
			return "Python 2";
		if (strncmp(base, "libpython3.6", 12) == 0 || strncmp(base, "libpython3.7", 12) == 0 ||
		    strncmp(base, "python3.6", 9) == 0 || strncmp(base, "python3.7", 9) == 0)
			return base;
	}
	return NULL;
}

/* Words a failed lookup for a live process. */
static int locate_error(enum pyloc_status st, const struct pyloc_result *res, const struct pyloc_files *files,
			const struct py_target *t, char *err, size_t errlen)
{
	int pid = (int)t->pid;
	const char *old;
	uint64_t v;

	switch (st) {
	case PYLOC_OK:
		return 0;
	case PYLOC_NOT_FOUND:
		old = old_python_hint(files);
		if (!old) {
			set_err(err, errlen, "PID %d (%s) is not a Python process: no CPython interpreter "
				"(_PyRuntime) in any file it has mapped", pid, t->comm);
			break;
		}
		set_err(err, errlen, "PID %d runs %s, which pyperf does not support (3.8 to 3.15 are)", pid, old);
		return -PYPROC_EUNSUPPORTED;
	case PYLOC_VERSION_UNREADABLE:
	case PYLOC_RUNTIME_UNREADABLE: {
		/* Read again for the reason: a memsrc only says "unreadable". */
		int r = mem_read_u64(t->pid, res->addr, &v);

		return classify_errno(r ? -r : EFAULT, t->pid, err, errlen);
	}
	case PYLOC_NO_VERSION:
		set_err(err, errlen, "PID %d: cannot tell the CPython version of %s", pid, res->file->path);
		break;
	case PYLOC_FREE_THREADED:
		set_err(err, errlen, "PID %d runs free-threaded CPython %s (%s), which pyperf does not support yet",
			pid, res->version, res->file->path);
		break;
	case PYLOC_NO_LAYOUT:
		set_err(err, errlen, "PID %d runs CPython %s, which pyperf does not support (3.8 to 3.15 are)",
			pid, res->version);
		break;
	case PYLOC_DEBUG_OFFSETS:
		set_err(err, errlen, "PID %d runs CPython %s but its _Py_DebugOffsets are unusable "
			"(%s) and pyperf has no table for this exact release", pid, res->version, res->why);
		break;
	case PYLOC_NOT_INITIALIZED:
		set_err(err, errlen, "PID %d: CPython %s is not initialized (starting up or shutting down)",
			pid, res->version);
		break;
	}
	return -pyloc_error(st);
}

int py_target_open(pid_t pid, struct py_target *t, char *err, size_t errlen)
{
	struct pyloc_files files = { 0 };
	struct pyloc_result res;
	int ret;

	memset(t, 0, sizeof(*t));
	t->pid = pid;
	if (pid <= 0) {
		set_err(err, errlen, "invalid PID %d", (int)pid);
		return -PYPROC_ENOPROC;
	}
	t->start_time = proc_start_time(pid);
	ret = read_maps(pid, &files);
	if (ret == -ENOMEM) {
		set_err(err, errlen, "out of memory");
		ret = -PYPROC_ENOPROC;
	} else if (ret) {
		ret = classify_errno(-ret, pid, err, errlen);
	} else {
		struct memsrc m = memsrc_pid(pid);

		proc_thread_name(pid, pid, t->comm, sizeof(t->comm));
		ret = locate_error(pylocate(&m, &files, t, &res), &res, &files, t, err, errlen);
	}
	pyloc_files_free(&files);
	return ret;
}
