/* Times, label filters and group roots of pyperf report (select.h). */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/options.h"
#include "output/select.h"
#include "util/errbuf.h"

/* ---- time ---------------------------------------------------------------- */

/* Exactly n digits at *s, advancing it; -1 when they are not there. */
static int digits(const char **s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*s)[i]))
			return -1;
		v = v * 10 + ((*s)[i] - '0');
	}
	*s += n;
	return v;
}

static int days_in_month(int year, int month)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

/* "-15m": now minus a duration. */
static int relative_time(const char *s, uint64_t now_ns, uint64_t *out)
{
	double secs;
	size_t n = strlen(s);

	/* days too: "-7d" (opt_duration stops at hours) */
	if (n > 2 && s[n - 1] == 'd') {
		char num[32];

		if (n - 2 >= sizeof(num))
			return -EINVAL;
		memcpy(num, s + 1, n - 2);
		num[n - 2] = '\0';
		if (opt_duration(num, 0, OPT_DURATION_MAX / 86400, &secs))
			return -EINVAL;
		secs *= 86400;
	} else if (opt_duration(s + 1, 0, OPT_DURATION_MAX, &secs)) {
		return -EINVAL;
	}
	uint64_t ns = (uint64_t)(secs * 1e9 + 0.5);

	*out = ns > now_ns ? 0 : now_ns - ns;
	return 0;
}

int select_parse_time(const char *s, uint64_t now_ns, uint64_t *out_ns)
{
	if (!strcmp(s, "now")) {
		*out_ns = now_ns;
		return 0;
	}
	if (s[0] == '-')
		return relative_time(s, now_ns, out_ns);

	struct tm tm = { 0 };
	const char *p = s;
	int year = digits(&p, 4), month, day, hour = 0, min = 0, sec = 0;
	uint64_t frac_ns = 0;

	if (year < 1970 || *p++ != '-' || (month = digits(&p, 2)) < 1 || month > 12 || *p++ != '-' ||
	    (day = digits(&p, 2)) < 1 || day > days_in_month(year, month))
		return -EINVAL;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if ((hour = digits(&p, 2)) < 0 || hour > 23 || *p++ != ':' || (min = digits(&p, 2)) < 0 || min > 59)
			return -EINVAL;
		if (*p == ':') {
			p++;
			/* 60: a leap second, counted as the next second's start */
			if ((sec = digits(&p, 2)) < 0 || sec > 60)
				return -EINVAL;
			if (*p == '.' || *p == ',') {
				uint64_t scale = 100000000;

				if (!isdigit((unsigned char)*++p))
					return -EINVAL;
				for (; isdigit((unsigned char)*p); p++, scale /= 10)
					frac_ns += (uint64_t)(*p - '0') * scale;
			}
		}
	}
	tm.tm_year = year - 1900;
	tm.tm_mon = month - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;

	time_t t;

	if (*p == '\0') {
		tm.tm_isdst = -1; /* local time: let the zone rules say */
		t = mktime(&tm);
	} else {
		long off = 0;

		if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p++ == '-' ? -1 : 1, oh, om;

			if ((oh = digits(&p, 2)) < 0 || oh > 23)
				return -EINVAL;
			if (*p == ':')
				p++;
			if ((om = digits(&p, 2)) < 0 || om > 59 || *p != '\0')
				return -EINVAL;
			off = sign * (oh * 3600L + om * 60L);
		} else {
			return -EINVAL;
		}
		t = timegm(&tm);
		if (t != (time_t)-1)
			t -= off;
	}
	if (t == (time_t)-1 || t < 0)
		return -EINVAL;
	*out_ns = (uint64_t)t * 1000000000ull + frac_ns;
	return 0;
}

void select_format_time(uint64_t unix_ns, char *buf, size_t len)
{
	time_t t = (time_t)(unix_ns / 1000000000ull);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm)) {
		snprintf(buf, len, "?");
		return;
	}
	size_t n = strlen(buf);

	snprintf(buf + n, len - n, ".%03uZ", (unsigned)(unix_ns / 1000000ull % 1000));
}

/* ---- labels -------------------------------------------------------------- */

static const char *const key_names[SEL__MAX] = {
	[SEL_PID] = "pid", [SEL_TID] = "tid", [SEL_PROCESS] = "process",
	[SEL_CMDLINE] = "cmdline", [SEL_THREAD] = "thread", [SEL_CONTAINER] = "container",
};

int select_key_by_name(const char *name)
{
	for (int k = 0; k < SEL__MAX; k++)
		if (!strcmp(name, key_names[k]))
			return k;
	return -1;
}

const char *select_key_name(enum select_key k)
{
	return k < SEL__MAX ? key_names[k] : "?";
}

const char *select_key_names(void)
{
	return "pid, tid, process, cmdline, thread, container";
}

int select_filter_parse(const char *arg, struct select_filter *f, char *err, size_t errlen)
{
	const char *eq = strchr(arg, '=');
	char key[16];

	if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(key)) {
		set_err(err, errlen, "--label takes KEY=VALUE (KEY one of %s), not '%s'", select_key_names(), arg);
		return -EINVAL;
	}
	memcpy(key, arg, (size_t)(eq - arg));
	key[eq - arg] = '\0';
	int k = select_key_by_name(key);

	if (k < 0) {
		set_err(err, errlen, "unknown label '%s' in --label: use one of %s", key, select_key_names());
		return -EINVAL;
	}
	*f = (struct select_filter){ .key = (enum select_key)k, .value = eq + 1 };
	if (k == SEL_PID || k == SEL_TID) {
		long v;

		if (opt_long(eq + 1, 1, UINT32_MAX, &v)) {
			set_err(err, errlen, "--label %s= takes a number, not '%s'", key, eq + 1);
			return -EINVAL;
		}
		f->number = (uint32_t)v;
	} else if (!eq[1]) {
		set_err(err, errlen, "--label %s= needs a value (a missing label never matches)", key);
		return -EINVAL;
	}
	return 0;
}

/* The origin's text for a label; NULL when it lacks it. */
static const char *origin_text(const struct sample_origin *o, enum select_key k)
{
	const char *s = k == SEL_PROCESS ? o->comm : k == SEL_CMDLINE ? o->cmdline : k == SEL_THREAD ? o->thread :
			k == SEL_CONTAINER ? o->container : NULL;

	return s && *s ? s : NULL;
}

bool select_match(const struct select_filter *fs, size_t n, const struct sample_origin *o)
{
	for (size_t i = 0; i < n; i++) {
		const struct select_filter *f = &fs[i];

		if (!o)
			return false;
		if (f->key == SEL_PID || f->key == SEL_TID) {
			if ((f->key == SEL_PID ? o->pid : o->tid) != f->number)
				return false;
			continue;
		}
		const char *s = origin_text(o, f->key);

		if (!s || fnmatch(f->value, s, 0) != 0)
			return false;
	}
	return true;
}

const char *select_group_root(struct frametab *ft, enum select_key key, const struct sample_origin *o)
{
	char buf[1100];

	if (key == SEL_PID || key == SEL_TID) {
		uint32_t id = o ? (key == SEL_PID ? o->pid : o->tid) : 0;

		if (id)
			snprintf(buf, sizeof(buf), "%s %u", key == SEL_PID ? "process" : "thread", id);
		else
			snprintf(buf, sizeof(buf), "[no %s]", key_names[key]);
	} else {
		const char *s = o ? origin_text(o, key) : NULL;

		/* names are bounded by the writers (1,020 bytes) */
		if (s)
			snprintf(buf, sizeof(buf), "%s %s", key_names[key], s);
		else
			snprintf(buf, sizeof(buf), "[no %s]", key_names[key]);
	}
	return frametab_pseudo(ft, buf);
}
