CREATE TABEL broken (;
SELECT E'\';
