#!/bin/sh
set -e
if [ "${1#-}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = redis-server ] && [ "${2:-}" = "${2#*.conf}" ]; then
  # no config file given: listen on every interface of the container network
  set -- "$@" --protected-mode no
fi
exec "$@"
