-- c;
/* x /* y */ */ SELECT 'a;b', $$ ; $$;
DO $x$ BEGIN PERFORM 1; END $x$;
