CREATE TABLE companies (
    id              TEXT    PRIMARY KEY,
    display_name    TEXT    NOT NULL,
    create_time_us  INTEGER NOT NULL,
    update_time_us  INTEGER NOT NULL
);

CREATE TABLE users (
    id              TEXT    PRIMARY KEY,
    email           TEXT    NOT NULL,
    -- The email lower-cased: one user per address whatever its case.
    email_key       TEXT    NOT NULL UNIQUE,
    full_name       TEXT    NOT NULL,
    username        TEXT    NOT NULL UNIQUE,
    create_time_us  INTEGER NOT NULL,
    update_time_us  INTEGER NOT NULL
);

CREATE TABLE company_owners (
    company_id      TEXT    NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    create_time_us  INTEGER NOT NULL,
    PRIMARY KEY (company_id, user_id)
);
CREATE INDEX company_owners_by_user ON company_owners (user_id);

-- A company with organizations cannot be deleted (ON DELETE RESTRICT): the service refuses it.
CREATE TABLE organizations (
    id              TEXT    PRIMARY KEY,
    display_name    TEXT    NOT NULL,
    company_id      TEXT    REFERENCES companies (id) ON DELETE RESTRICT,
    plan            TEXT    NOT NULL CHECK (plan IN ('free', 'team', 'business')),
    seat_limit      INTEGER NOT NULL CHECK (seat_limit >= 0),
    create_time_us  INTEGER NOT NULL,
    update_time_us  INTEGER NOT NULL
);
CREATE INDEX organizations_by_company ON organizations (company_id, id);

CREATE TABLE teams (
    org_id          TEXT    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id              TEXT    NOT NULL,
    display_name    TEXT    NOT NULL,
    description     TEXT    NOT NULL,
    create_time_us  INTEGER NOT NULL,
    PRIMARY KEY (org_id, id)
);

CREATE TABLE memberships (
    org_id          TEXT    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role            TEXT    NOT NULL CHECK (role IN ('member', 'editor', 'owner')),
    create_time_us  INTEGER NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships (user_id);

-- A team member is a member of the organization: removing the membership removes the team
-- memberships with it.
CREATE TABLE team_members (
    org_id          TEXT    NOT NULL,
    team_id         TEXT    NOT NULL,
    user_id         TEXT    NOT NULL,
    create_time_us  INTEGER NOT NULL,
    PRIMARY KEY (org_id, team_id, user_id),
    FOREIGN KEY (org_id, team_id) REFERENCES teams (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, user_id) REFERENCES memberships (org_id, user_id) ON DELETE CASCADE
);

CREATE TABLE invitations (
    org_id          TEXT    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id              TEXT    NOT NULL,
    email           TEXT    NOT NULL,
    email_key       TEXT    NOT NULL,
    team_id         TEXT    NOT NULL,
    role            TEXT    NOT NULL CHECK (role IN ('member', 'editor', 'owner')),
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'accepted')),
    create_time_us  INTEGER NOT NULL,
    accept_time_us  INTEGER,
    accepted_by     TEXT,
    PRIMARY KEY (org_id, id)
);
-- One pending invitation per email and organization; provisioning finds them by email.
CREATE UNIQUE INDEX invitations_one_pending ON invitations (org_id, email_key) WHERE state = 'pending';
CREATE INDEX invitations_pending_by_email ON invitations (email_key) WHERE state = 'pending';

CREATE TABLE identity_links (
    id                  TEXT    PRIMARY KEY,
    user_id             TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    connection          TEXT    NOT NULL,
    subject             TEXT    NOT NULL,
    create_time_us      INTEGER NOT NULL,
    last_sign_in_us     INTEGER NOT NULL,
    UNIQUE (connection, subject)
);
CREATE INDEX identity_links_by_user ON identity_links (user_id, id);

-- Append-only: nothing updates or deletes these rows, and they outlive what they describe.
CREATE TABLE audit_events (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,
    parent          TEXT    NOT NULL,
    company         TEXT    NOT NULL,
    actor           TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    resource        TEXT    NOT NULL,
    event_time_us   INTEGER NOT NULL,
    details         TEXT    NOT NULL
);
CREATE INDEX audit_events_by_parent ON audit_events (parent, seq DESC);
CREATE INDEX audit_events_by_company ON audit_events (company, seq DESC) WHERE company <> '';
