# Quota service: database and service helpers.
