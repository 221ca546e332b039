-- +goose Up
-- Every version of every area pack a server has loaded. Exchanges refer to
-- (area, version), so an old exchange reads with the questions it was made
-- with after the pack changes.
CREATE TABLE area_packs (
    area      TEXT NOT NULL,
    version   INTEGER NOT NULL,
    hash      TEXT NOT NULL,
    content   TEXT NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (area, version)
);

-- +goose Down
DROP TABLE area_packs;
