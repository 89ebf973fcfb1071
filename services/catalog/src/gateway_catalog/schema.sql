-- The catalog's tables. Every statement is idempotent, so the whole file is
-- applied at each start (or by `gateway migrate catalog`) under an advisory lock.

CREATE SCHEMA IF NOT EXISTS catalog;

CREATE TABLE IF NOT EXISTS catalog.models (
    id         text PRIMARY KEY,
    -- The `CatalogEntry` as JSON.
    entry      jsonb NOT NULL,
    -- 'file' rows follow the catalog file; 'admin' rows were changed by an
    -- admin and are never overwritten by the file.
    source     text NOT NULL CHECK (source IN ('file', 'admin')),
    retired    boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Second names for models, such as `fast`. An alias names a model, never
-- another alias; the admin API rejects retiring a model that aliases name.
CREATE TABLE IF NOT EXISTS catalog.aliases (
    alias      text PRIMARY KEY,
    model_id   text NOT NULL REFERENCES catalog.models (id),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS aliases_model_id ON catalog.aliases (model_id);
