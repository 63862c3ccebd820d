CREATE TABLE accounts (
    id integer PRIMARY KEY,
    name text NOT NULL
);
INSERT INTO accounts (id, name) VALUES (1, 'ada'), (2, 'grace'), (3, 'linus');
