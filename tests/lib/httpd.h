/*
 * A small HTTP server on 127.0.0.1 for the GitHub tests: it answers with
 * recorded responses (status line, headers and body, as GitHub sent them)
 * chosen by method and path from a fixture folder's "routes" file, and logs
 * every request it gets.
 *
 * routes: one line per route, "METHOD PATH RESPONSE[,RESPONSE...]": the
 * responses are used in turn, the last one again and again.  A response is a
 * file of the folder; "@store" instead keeps what is POSTed to the path and
 * answers a GET of it (with or without a query) with all of it, as GitHub's
 * comment lists do; "@store:MS" keeps a POST at once but answers it MS later.
 * In response files {{PORT}} is the server's port, {{NOW+N}} the epoch
 * second N seconds from now (recorded times would pass), and a first line
 * "#delay MS" holds the answer back that long.  A request no route
 * names exactly goes, under the PREFIX of an "ANY PREFIX @pulls" line, to the
 * fake pull requests of fakepulls.h.
 */
#ifndef WAVED_HTTPD_H
#define WAVED_HTTPD_H

#include <sys/types.h>

struct httpd {
	pid_t pid;
	int port;
	char *log;	/* a line per request, at its arrival:
			 * METHOD PATH if-none-match=.. auth=yes|no body=.. bearer=TOKEN|- */
};

struct httpd *httpd_start(const char *fixtures, const char *log);
void httpd_stop(struct httpd *h);
/* Send a recorded response (head lines, a blank line, the body) on fd. */
void httpd_send_raw(int fd, const char *raw, int port);
/* How many logged requests contain text. */
int httpd_count(const struct httpd *h, const char *text);
/* The place (0, 1, ...) in the log of the nth (from 0) request containing text, or -1. */
int httpd_index(const struct httpd *h, const char *text, int nth);
/* The logged request at place index (caller frees), or NULL. */
char *httpd_line(const struct httpd *h, int index);

#endif
