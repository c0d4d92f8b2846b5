CREATE TABLE login_attempts (
    id              TEXT    PRIMARY KEY,
    connection      TEXT    NOT NULL,
    attempt_time_us BIGINT  NOT NULL,
    success         BOOLEAN NOT NULL,
    reason          TEXT    NOT NULL,
    check_name      TEXT    NOT NULL,
    wanted          TEXT    NOT NULL,
    got             TEXT    NOT NULL,
    fix_by          TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    email           TEXT    NOT NULL,
    test_mode       BOOLEAN NOT NULL
);

-- The admin's log reads one connection newest first; pruning deletes by age.
CREATE INDEX login_attempts_by_connection ON login_attempts (connection, attempt_time_us DESC, id DESC);
CREATE INDEX login_attempts_by_time ON login_attempts (attempt_time_us);
