-- An attempt says what the assertion service decided (VALIDATED or REFUSED); whether a validated
-- sign-in gave the person a code is an outcome the edge reports, kept beside it. Attempts recorded
-- as "success" before this migration were validated; nobody reported how they ended.
ALTER TABLE login_attempts ADD COLUMN result TEXT NOT NULL DEFAULT 'REFUSED';
UPDATE login_attempts SET result = 'VALIDATED' WHERE success;
ALTER TABLE login_attempts DROP COLUMN success;

CREATE TABLE login_outcomes (
    attempt_id      TEXT   PRIMARY KEY,
    connection      TEXT   NOT NULL,
    outcome_time_us BIGINT NOT NULL,
    result          TEXT   NOT NULL,
    reason          TEXT   NOT NULL,
    check_name      TEXT   NOT NULL,
    got             TEXT   NOT NULL,
    fix_by          TEXT   NOT NULL
);

CREATE INDEX login_outcomes_by_time ON login_outcomes (outcome_time_us);
