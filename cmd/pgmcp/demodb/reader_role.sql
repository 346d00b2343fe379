-- pgmcp demo database: the read-only reader role.
--
-- CreateReaderRole runs this in one transaction after setting four
-- transaction-local parameters with set_config (the values are passed as
-- bind parameters and never spliced into SQL text; below they are quoted
-- with format's %I and %L):
--
--   pgmcp.reader_role      name of the LOGIN role to create or update
--   pgmcp.reader_password  its password ('' = no password)
--   pgmcp.reader_database  database to grant CONNECT on
--   pgmcp.reader_policy    the policy JSON (policy.json): allowed_schemas,
--                          allowed_relations, blocked_relations, blocked_columns
--
-- Result: the role can log in, connect, use the allowed schemas and SELECT
-- the allowed tables and views, only column-level SELECT (minus the blocked
-- columns) where the policy blocks columns, and nothing on blocked
-- relations (nor on partitions of blocked relations). It can create nothing
-- and write nothing in this database. Roles are cluster-wide, so an existing
-- role of that name is reused: its attributes are reset, its role
-- memberships and its privileges in this database are revoked, then the
-- grants are made again. A superuser, the current user or a role that owns
-- objects is refused.

DO $reader$
DECLARE
  role_name  text  := current_setting('pgmcp.reader_role');
  password   text  := current_setting('pgmcp.reader_password');
  db         text  := current_setting('pgmcp.reader_database');
  policy     jsonb := current_setting('pgmcp.reader_policy')::jsonb;
  attrs      constant text := 'LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT';
  pw_clause  text;
  role_oid   oid;
  is_super   boolean;
  schemas    text[];
  rels       text[];
  blocked    text[];
  lineage    text[];
  hidden     text[];
  cols       text;
  r          record;
BEGIN
  IF role_name IS NULL OR role_name = '' THEN
    RAISE EXCEPTION 'reader role name is empty';
  END IF;
  IF role_name IN (current_user, session_user) THEN
    RAISE EXCEPTION 'refusing to turn the current role % into a read-only role', role_name;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_database WHERE datname = db) THEN
    RAISE EXCEPTION 'database % does not exist', db;
  END IF;
  pw_clause := CASE WHEN password = '' THEN 'PASSWORD NULL' ELSE format('PASSWORD %L', password) END;

  -- 1. The role: create it, or reset an existing one.
  SELECT oid, rolsuper INTO role_oid, is_super FROM pg_roles WHERE rolname = role_name;
  IF NOT FOUND THEN
    BEGIN
      EXECUTE format('CREATE ROLE %I %s %s', role_name, attrs, pw_clause);
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      -- created meanwhile by a concurrent loader: reset it below
      NULL;
    END;
    SELECT oid, rolsuper INTO role_oid, is_super FROM pg_roles WHERE rolname = role_name;
  END IF;
  IF is_super THEN
    RAISE EXCEPTION 'role % is a superuser; refusing to use it as a read-only role', role_name;
  END IF;
  EXECUTE format('ALTER ROLE %I %s %s', role_name, attrs, pw_clause);

  -- A role that owns anything here (or a database, a tablespace) could
  -- change it whatever the grants say.
  IF EXISTS (SELECT FROM pg_shdepend
             WHERE refclassid = 'pg_authid'::regclass AND refobjid = role_oid AND deptype = 'o'
               AND dbid IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))) THEN
    RAISE EXCEPTION 'role % owns objects; refusing to use it as a read-only role', role_name;
  END IF;

  -- Memberships would bring other roles' privileges (pg_write_all_data,
  -- pg_read_all_data...): drop them all.
  FOR r IN SELECT g.rolname FROM pg_auth_members AS m JOIN pg_roles AS g ON g.oid = m.roleid
           WHERE m.member = role_oid ORDER BY 1 LOOP
    EXECUTE format('REVOKE %I FROM %I', r.rolname, role_name);
  END LOOP;

  -- Sessions of the role in this database start read-only (defence in
  -- depth: pgmcp also runs every query in a READ ONLY transaction).
  EXECUTE format('ALTER ROLE %I IN DATABASE %I SET default_transaction_read_only = on', role_name, db);

  -- 2. Database: CONNECT only. No temporary tables for anyone but the owner.
  EXECUTE format('REVOKE ALL ON DATABASE %I FROM %I', db, role_name);
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', db, role_name);
  EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', db);

  -- Large objects can be created by any role by default: not here.
  REVOKE EXECUTE ON FUNCTION pg_catalog.lo_creat(integer), pg_catalog.lo_create(oid),
                             pg_catalog.lo_from_bytea(oid, bytea),
                             pg_catalog.lo_import(text), pg_catalog.lo_import(text, oid)
    FROM PUBLIC;

  -- 3. Start from nothing in every user schema of this database. No one but
  -- the owner may create objects in public (PostgreSQL 15's default; being
  -- explicit for older servers).
  REVOKE CREATE ON SCHEMA public FROM PUBLIC;
  FOR r IN SELECT nspname FROM pg_namespace
           WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema' ORDER BY 1 LOOP
    EXECUTE format('REVOKE ALL ON SCHEMA %I FROM %I', r.nspname, role_name);
    EXECUTE format('REVOKE CREATE ON SCHEMA %I FROM PUBLIC', r.nspname);
    EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM %I', r.nspname, role_name);
    EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM %I', r.nspname, role_name);
  END LOOP;

  -- 4. Grant what the policy allows.
  schemas := ARRAY(SELECT jsonb_array_elements_text(coalesce(policy -> 'allowed_schemas', '[]')));
  rels    := ARRAY(SELECT jsonb_array_elements_text(coalesce(policy -> 'allowed_relations', '[]')));
  blocked := ARRAY(SELECT jsonb_array_elements_text(coalesce(policy -> 'blocked_relations', '[]')));

  FOR r IN SELECT DISTINCT n.nspname
           FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
           WHERE n.nspname = ANY (schemas) OR n.nspname || '.' || c.relname = ANY (rels)
           UNION
           SELECT nspname FROM pg_namespace WHERE nspname = ANY (schemas)
           ORDER BY 1 LOOP
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', r.nspname, role_name);
  END LOOP;

  FOR r IN SELECT c.oid, n.nspname, c.relname
           FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
           WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
             AND (n.nspname = ANY (schemas) OR n.nspname || '.' || c.relname = ANY (rels))
           ORDER BY 2, 3 LOOP
    -- the relation and, for a partition, its ancestors: a partition of a
    -- blocked table is blocked, and inherits its blocked columns
    lineage := ARRAY(SELECT an.nspname || '.' || ac.relname
                     FROM (SELECT r.oid AS relid UNION SELECT relid FROM pg_partition_ancestors(r.oid)) AS a
                     JOIN pg_class AS ac ON ac.oid = a.relid
                     JOIN pg_namespace AS an ON an.oid = ac.relnamespace);
    CONTINUE WHEN lineage && blocked;
    hidden := ARRAY(SELECT jsonb_array_elements_text(policy -> 'blocked_columns' -> l) FROM unnest(lineage) AS l);
    IF cardinality(hidden) = 0 THEN
      EXECUTE format('GRANT SELECT ON %I.%I TO %I', r.nspname, r.relname, role_name);
    ELSE
      SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
      FROM pg_attribute
      WHERE attrelid = r.oid AND attnum > 0 AND NOT attisdropped AND attname <> ALL (hidden);
      IF cols IS NOT NULL THEN
        EXECUTE format('GRANT SELECT (%s) ON %I.%I TO %I', cols, r.nspname, r.relname, role_name);
      END IF;
    END IF;
  END LOOP;
END
$reader$;
