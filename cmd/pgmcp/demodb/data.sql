-- pgmcp demo database: deterministic data generator.
--
-- Runs after schema.sql, in the same transaction. Everything is generated
-- with set-based INSERT ... SELECT over generate_series. There is no
-- random(): every "random" number is a hash of a row number (and a stream
-- number that separates independent draws), so two loads produce identical
-- data. There is no now(): the data window is fixed,
--
--     2023-11-01 00:00:00 UTC  <=  t  <  2026-11-01 00:00:00 UTC
--
-- and "as of" states (order status, subscription status...) are as of the
-- end of that window. Helper functions and staging tables live in the schema
-- demodb_gen, which is dropped once the data is in. Then the tables are
-- ANALYZEd and, last, keys, foreign keys and indexes are added (after the
-- bulk inserts, and with statistics for the foreign key checks: faster).

SET LOCAL TimeZone = 'UTC';
SET LOCAL DateStyle = 'ISO, YMD';
SET LOCAL IntervalStyle = 'postgres';
SET LOCAL extra_float_digits = 1;
SET LOCAL work_mem = '64MB';
SET LOCAL maintenance_work_mem = '128MB';
SET LOCAL jit = off;
SET LOCAL client_min_messages = warning;

CREATE SCHEMA demodb_gen;

-- ---------------------------------------------------------------------------
-- Helpers
-- ---------------------------------------------------------------------------

-- rnd(stream, n): a uniform pseudo-random number in [0, 1) derived from the
-- 64-bit hash of n seeded with stream (53 bits, exact in a double).
CREATE FUNCTION demodb_gen.rnd(stream integer, n bigint) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT ((hashint8extended(n, stream::bigint) >> 11) & 9007199254740991)::double precision / 9007199254740992.0 $$;

-- pick(vals, u): uniform choice from an array.
CREATE FUNCTION demodb_gen.pick(vals anyarray, u double precision) RETURNS anyelement
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT vals[1 + floor(u * cardinality(vals))::integer] $$;

-- cum(weights): the lower bounds of the cumulative distribution of weights,
-- normalised to [0, 1): {2,1,1} -> {0, 0.5, 0.75}. For width_bucket.
CREATE FUNCTION demodb_gen.cum(w double precision[]) RETURNS double precision[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT array_agg(coalesce(before, 0) / total ORDER BY i)
   FROM (SELECT i,
                sum(x) OVER (ORDER BY i ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before,
                sum(x) OVER () AS total
         FROM unnest(w) WITH ORDINALITY AS t(x, i)) s $$;

-- wpick(vals, weights, u): weighted choice. With constant weights the
-- planner folds cum(weights) once per statement.
CREATE FUNCTION demodb_gen.wpick(vals anyarray, weights double precision[], u double precision) RETURNS anyelement
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT vals[width_bucket(u, demodb_gen.cum(weights))] $$;

-- pick_day(cum, lo, hi, u): a day index (0-based) drawn from the calendar
-- distribution whose cumulative lower bounds are cum (see demodb_gen.cal),
-- restricted to days lo..hi (inverse transform sampling).
CREATE FUNCTION demodb_gen.pick_day(cum double precision[], lo integer, hi integer, u double precision) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT width_bucket(cum[lo + 1] + u * (cum[hi + 2] - cum[lo + 1]), cum) - 1 $$;

-- tod(u, v): a time of day with a realistic online-shopping profile (quiet at
-- night, peak in the evening), whole seconds.
CREATE FUNCTION demodb_gen.tod(u double precision, v double precision) RETURNS interval
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT make_interval(hours => demodb_gen.wpick(
            '{0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23}'::integer[],
            '{1.2,0.7,0.4,0.3,0.3,0.5,1.0,1.8,2.6,3.2,3.6,3.8,4.2,4.0,3.8,3.7,3.8,4.0,4.6,5.2,5.6,5.0,3.6,2.2}',
            u),
          secs => floor(v * 3600)) $$;

-- ---------------------------------------------------------------------------
-- Calendar: one row per day of the window with relative weights
-- ---------------------------------------------------------------------------

CREATE UNLOGGED TABLE demodb_gen.days AS
WITH d AS (
  SELECT i AS day_idx, (date '2023-11-01' + i) AS day
  FROM generate_series(0, 1095) AS i
), flags AS (
  SELECT d.*,
         extract(month FROM day)::integer AS mon,
         extract(isodow FROM day)::integer AS dow,
         -- Black Friday = the day after the fourth Thursday of November.
         day - (make_date(extract(year FROM day)::integer, 11, 1)
                + ((11 - extract(isodow FROM make_date(extract(year FROM day)::integer, 11, 1))::integer) % 7)
                + 22) AS from_bf
  FROM d
)
SELECT day_idx, day, mon, dow,
       (from_bf BETWEEN 0 AND 3) AS is_black_friday,          -- Black Friday .. Cyber Monday
       (mon = 7 AND extract(day FROM day) BETWEEN 8 AND 14) AS is_summer_sale,
       (mon = 1 AND extract(day FROM day) <= 7) AS is_new_year,
       -- orders: month seasonality x weekday x promotions
       (ARRAY[0.82, 0.78, 0.88, 0.90, 0.95, 0.92, 0.90, 0.95, 0.98, 1.05, 1.30, 1.60])[mon]
       * (ARRAY[1.08, 1.04, 1.00, 0.98, 0.92, 0.90, 1.08])[dow]
       * CASE from_bf WHEN 0 THEN 3.4 WHEN 1 THEN 2.2 WHEN 2 THEN 1.9 WHEN 3 THEN 2.8 ELSE 1 END
       * CASE WHEN mon = 12 AND extract(day FROM day) BETWEEN 22 AND 26 THEN 0.5
              WHEN mon = 12 AND extract(day FROM day) <= 18 THEN 1.1
              WHEN mon = 7 AND extract(day FROM day) BETWEEN 8 AND 14 THEN 1.5
              ELSE 1 END AS order_w,
       -- signups: a launch campaign in the first two weeks (the waitlist),
       -- then the business grows (x1.8 over three years), with more signups
       -- around the holidays and in January
       CASE WHEN day_idx < 14 THEN 6 ELSE 1 END
       * (1 + 0.8 * day_idx / 1095.0)
       * (ARRAY[1.25, 1.00, 1.00, 0.95, 0.95, 0.90, 0.90, 0.95, 1.00, 1.00, 1.25, 1.35])[mon]
       * (ARRAY[1.05, 1.05, 1.02, 1.00, 0.95, 0.92, 1.00])[dow]
       * CASE WHEN from_bf BETWEEN 0 AND 3 THEN 2 ELSE 1 END AS signup_w
FROM flags;

-- The cumulative distributions of the two calendars, as arrays: element
-- day_idx + 1 is the probability of a day before day_idx; a final 1 closes it.
-- The arrays are big enough to be TOASTed in a table, so statements read
-- them through "WITH cal AS MATERIALIZED (SELECT order_cum[:] ...)", which
-- detoasts them once per statement instead of once per use.
CREATE UNLOGGED TABLE demodb_gen.cal AS
SELECT demodb_gen.cum(array_agg(order_w ORDER BY day_idx)) || 1::double precision AS order_cum,
       demodb_gen.cum(array_agg(signup_w ORDER BY day_idx)) || 1::double precision AS signup_cum
FROM demodb_gen.days;

-- ---------------------------------------------------------------------------
-- Countries and names
-- ---------------------------------------------------------------------------

INSERT INTO public.countries (code, name, region, calling_code) VALUES
  ('US', 'United States',  'North America', '+1'),
  ('CA', 'Canada',         'North America', '+1'),
  ('GB', 'United Kingdom', 'Europe',        '+44'),
  ('IE', 'Ireland',        'Europe',        '+353'),
  ('DE', 'Germany',        'Europe',        '+49'),
  ('NL', 'Netherlands',    'Europe',        '+31'),
  ('SE', 'Sweden',         'Europe',        '+46'),
  ('FR', 'France',         'Europe',        '+33'),
  ('ES', 'Spain',          'Europe',        '+34'),
  ('IT', 'Italy',          'Europe',        '+39'),
  ('AU', 'Australia',      'Asia Pacific',  '+61'),
  ('JP', 'Japan',          'Asia Pacific',  '+81'),
  ('IN', 'India',          'Asia Pacific',  '+91'),
  ('BR', 'Brazil',         'Latin America', '+55'),
  ('MX', 'Mexico',         'Latin America', '+52');

-- Share of customers per country, the name pool used there, the language and
-- the cities (listed biggest first; earlier cities are picked more often).
CREATE UNLOGGED TABLE demodb_gen.country_mix (ord, code, weight, name_group, lang, cities) AS VALUES
  (1,  'US', 38.0, 'anglo',    'en', '{New York,Los Angeles,Chicago,Houston,Phoenix,Seattle,Denver,Boston,Austin,Atlanta,Portland,Minneapolis}'::text[]),
  (2,  'CA',  7.0, 'anglo',    'en', '{Toronto,Vancouver,Montreal,Calgary,Ottawa,Edmonton}'),
  (3,  'GB', 10.0, 'anglo',    'en', '{London,Manchester,Birmingham,Leeds,Glasgow,Bristol,Edinburgh,Liverpool}'),
  (4,  'IE',  2.0, 'anglo',    'en', '{Dublin,Cork,Galway,Limerick}'),
  (5,  'DE',  9.0, 'germanic', 'de', '{Berlin,Hamburg,Munich,Cologne,Frankfurt,Stuttgart,Leipzig,Dresden}'),
  (6,  'NL',  4.0, 'germanic', 'nl', '{Amsterdam,Rotterdam,Utrecht,The Hague,Eindhoven}'),
  (7,  'SE',  2.0, 'germanic', 'sv', '{Stockholm,Gothenburg,Malmö,Uppsala}'),
  (8,  'FR',  6.0, 'romance',  'fr', '{Paris,Lyon,Marseille,Toulouse,Bordeaux,Lille,Nantes}'),
  (9,  'ES',  3.0, 'romance',  'es', '{Madrid,Barcelona,Valencia,Seville,Bilbao}'),
  (10, 'IT',  3.0, 'romance',  'it', '{Milan,Rome,Turin,Bologna,Florence,Naples}'),
  (11, 'AU',  5.0, 'anglo',    'en', '{Sydney,Melbourne,Brisbane,Perth,Adelaide}'),
  (12, 'JP',  3.0, 'japanese', 'ja', '{Tokyo,Osaka,Yokohama,Nagoya,Fukuoka,Sapporo}'),
  (13, 'IN',  3.0, 'indian',   'en', '{Bengaluru,Mumbai,Delhi,Pune,Hyderabad,Chennai}'),
  (14, 'BR',  3.0, 'romance',  'pt', '{São Paulo,Rio de Janeiro,Belo Horizonte,Curitiba,Porto Alegre}'),
  (15, 'MX',  2.0, 'romance',  'es', '{Mexico City,Guadalajara,Monterrey,Puebla}');

CREATE UNLOGGED TABLE demodb_gen.name_groups (name_group, first_names, last_names) AS VALUES
  ('anglo',
   '{James,Olivia,Liam,Emma,Noah,Ava,Oliver,Sophia,Ethan,Isabella,Lucas,Mia,Mason,Charlotte,Logan,Amelia,Jack,Harper,Henry,Grace,Samuel,Chloe,Daniel,Ella,Owen,Lily,Ryan,Hannah,Nathan,Zoe}'::text[],
   '{Smith,Johnson,Williams,Brown,Jones,Miller,Davis,Wilson,Taylor,Anderson,Thomas,Moore,Martin,Clark,Lewis,Walker,Hall,Young,King,Wright,Scott,Green,Baker,Adams,Nelson,Hill,Campbell,Mitchell,Roberts,Carter,Murphy,Kelly,Evans,Turner,Collins,Reid}'::text[]),
  ('germanic',
   '{Lukas,Anna,Felix,Lena,Jonas,Mia,Paul,Emma,Leon,Hannah,Finn,Sophie,Max,Marie,Elias,Lea,Jan,Sanne,Daan,Femke,Lars,Elin,Erik,Astrid,Sven,Ingrid,Noah,Julia,Tim,Laura}',
   '{Müller,Schmidt,Schneider,Fischer,Weber,Meyer,Wagner,Becker,Hoffmann,Koch,Richter,Klein,de Vries,Jansen,van Dijk,Bakker,Visser,Smit,Andersson,Johansson,Karlsson,Nilsson,Eriksson,Larsson,Lindqvist,Berg,Vogel,Braun,Krüger,Hartmann}'),
  ('romance',
   '{Lucas,Camille,Hugo,Léa,Louis,Chloé,Mateo,Lucía,Pablo,Sofía,Diego,Valentina,Alejandro,Martina,Javier,Elena,Marco,Giulia,Luca,Chiara,Matteo,Francesca,Gabriel,Ana,Rafael,Beatriz,Pedro,Mariana,Santiago,Camila}',
   '{Martin,Bernard,Dubois,Laurent,Moreau,Lefèvre,García,Fernández,González,Rodríguez,López,Martínez,Sánchez,Pérez,Romero,Rossi,Russo,Ferrari,Esposito,Bianchi,Romano,Colombo,Ricci,Silva,Santos,Oliveira,Souza,Costa,Pereira,Hernández}'),
  ('japanese',
   '{Haruto,Yui,Sota,Hina,Ren,Aoi,Yuto,Sakura,Riku,Mei,Kaito,Yuna,Hiroshi,Akiko,Takumi,Naoko,Kenji,Emi,Daiki,Rina}',
   '{Sato,Suzuki,Takahashi,Tanaka,Watanabe,Ito,Yamamoto,Nakamura,Kobayashi,Kato,Yoshida,Yamada,Sasaki,Yamaguchi,Matsumoto,Inoue,Kimura,Hayashi,Shimizu,Mori}'),
  ('indian',
   '{Aarav,Ananya,Vihaan,Diya,Arjun,Saanvi,Rohan,Isha,Kabir,Priya,Aditya,Kavya,Rahul,Meera,Vikram,Nisha,Karan,Pooja,Siddharth,Aisha}',
   '{Sharma,Patel,Singh,Kumar,Gupta,Reddy,Iyer,Nair,Rao,Mehta,Shah,Joshi,Desai,Kapoor,Malhotra,Chopra,Banerjee,Das,Menon,Pillai}');

-- ---------------------------------------------------------------------------
-- Customers (5,000), ids in signup order
-- ---------------------------------------------------------------------------

CREATE UNLOGGED TABLE demodb_gen.customers AS
WITH cal AS MATERIALIZED (
  SELECT signup_cum[:] AS signup_cum FROM demodb_gen.cal
), mix AS (
  SELECT array_agg(code ORDER BY ord) AS codes, demodb_gen.cum(array_agg(weight ORDER BY ord)) AS cum
  FROM demodb_gen.country_mix
), raw AS (
  SELECT g,
         demodb_gen.pick_day(cal.signup_cum, 0, 1095, demodb_gen.rnd(101, g)) AS day_idx,
         demodb_gen.tod(demodb_gen.rnd(102, g), demodb_gen.rnd(103, g)) AS tod,
         mix.codes[width_bucket(demodb_gen.rnd(104, g), mix.cum)] AS country_code
  FROM generate_series(1, 5000) AS g, cal, mix
)
SELECT row_number() OVER (ORDER BY day_idx, tod, g)::integer AS id,
       g, day_idx,
       timestamptz '2023-11-01 00:00:00+00' + day_idx * interval '1 day' + tod AS signed_up_at,
       country_code
FROM raw;

INSERT INTO public.customers (id, email, first_name, last_name, phone, date_of_birth, country_code, city,
                              segment, acquisition_channel, marketing_opt_in, signed_up_at, preferences)
SELECT c.id,
       -- e-mail: fictional domains; the id keeps it unique
       lower(translate(
         CASE WHEN seg = 'business'
              THEN fn || '.' || replace(ln, ' ', '') || c.id || '@' || replace(ln, ' ', '') || '-'
                   || demodb_gen.pick('{studio,labs,group,partners,works,trading}'::text[], demodb_gen.rnd(201, c.id)) || '.example'
              ELSE demodb_gen.wpick(ARRAY[fn || '.' || replace(ln, ' ', ''), fn || replace(ln, ' ', ''), left(fn, 1) || replace(ln, ' ', ''), fn],
                                    '{45,25,20,10}', demodb_gen.rnd(202, c.id))
                   || c.id || '@'
                   || demodb_gen.wpick('{mailbox.example,postbox.example,inbox.example,webmail.example,netpost.example}'::text[],
                                       '{40,25,15,12,8}', demodb_gen.rnd(203, c.id))
         END,
         'áàâäãåçéèêëíìîïñóòôöõøúùûüýÿß', 'aaaaaaceeeeiiiinoooooouuuuyys')),
       fn, ln,
       -- phone: 10 random digits after the country prefix
       co.calling_code || ' ' || lpad((floor(demodb_gen.rnd(204, c.id) * 1e10))::bigint::text, 10, '0'),
       -- date of birth: adults 18-75 at signup, most 25-50; 7% did not give it
       CASE WHEN demodb_gen.rnd(205, c.id) < 0.07 THEN NULL
            ELSE (c.signed_up_at::date
                  - make_interval(years => 18 + floor(57 * (demodb_gen.rnd(206, c.id) + demodb_gen.rnd(207, c.id)) / 2)::integer)
                  - floor(demodb_gen.rnd(208, c.id) * 365)::integer * interval '1 day')::date
       END,
       c.country_code,
       -- earlier (bigger) cities are more likely
       m.cities[1 + floor(power(demodb_gen.rnd(209, c.id), 1.7) * cardinality(m.cities))::integer],
       seg,
       demodb_gen.wpick('{organic_search,paid_search,social,referral,email,affiliate,direct}'::text[],
                        '{30,20,15,10,5,5,15}', demodb_gen.rnd(210, c.id)),
       demodb_gen.rnd(211, c.id) < 0.55,
       c.signed_up_at,
       jsonb_build_object(
         'language', m.lang,
         'newsletter_topics', to_jsonb(array_remove(ARRAY[
            CASE WHEN demodb_gen.rnd(212, c.id) < 0.55 THEN 'deals' END,
            CASE WHEN demodb_gen.rnd(213, c.id) < 0.35 THEN 'new_arrivals' END,
            CASE WHEN demodb_gen.rnd(214, c.id) < 0.25 THEN 'outdoor' END,
            CASE WHEN demodb_gen.rnd(215, c.id) < 0.25 THEN 'home' END,
            CASE WHEN demodb_gen.rnd(216, c.id) < 0.20 THEN 'tech' END], NULL)),
         'dark_mode', demodb_gen.rnd(217, c.id) < 0.3)
FROM demodb_gen.customers AS c
JOIN demodb_gen.country_mix AS m ON m.code = c.country_code
JOIN public.countries AS co ON co.code = c.country_code
JOIN demodb_gen.name_groups AS n ON n.name_group = m.name_group
CROSS JOIN LATERAL (SELECT
    demodb_gen.pick(n.first_names, demodb_gen.rnd(218, c.id)) AS fn,
    demodb_gen.pick(n.last_names, demodb_gen.rnd(219, c.id)) AS ln,
    CASE WHEN demodb_gen.rnd(220, c.id) < 0.12 THEN 'business' ELSE 'consumer' END AS seg) AS x
ORDER BY c.id;

-- ---------------------------------------------------------------------------
-- Categories and products (200)
-- ---------------------------------------------------------------------------

INSERT INTO public.categories (id, parent_id, name, slug) VALUES
  (1,  NULL, 'Electronics',            'electronics'),
  (2,  NULL, 'Home & Kitchen',         'home-kitchen'),
  (3,  NULL, 'Outdoor & Sports',       'outdoor-sports'),
  (4,  NULL, 'Apparel',                'apparel'),
  (5,  NULL, 'Beauty & Personal Care', 'beauty-personal-care'),
  (6,  NULL, 'Toys & Games',           'toys-games'),
  (10, 1, 'Headphones & Audio',     'headphones-audio'),
  (11, 1, 'Smart Home',             'smart-home'),
  (12, 1, 'Phone Accessories',      'phone-accessories'),
  (13, 1, 'Computer Accessories',   'computer-accessories'),
  (20, 2, 'Cookware',               'cookware'),
  (21, 2, 'Coffee & Tea',           'coffee-tea'),
  (22, 2, 'Bedding & Bath',         'bedding-bath'),
  (23, 2, 'Storage & Organization', 'storage-organization'),
  (30, 3, 'Camping & Hiking',       'camping-hiking'),
  (31, 3, 'Cycling',                'cycling'),
  (32, 3, 'Fitness & Yoga',         'fitness-yoga'),
  (40, 4, 'Outerwear',              'outerwear'),
  (41, 4, 'Footwear',               'footwear'),
  (42, 4, 'Bags & Backpacks',       'bags-backpacks'),
  (50, 5, 'Skincare',               'skincare'),
  (51, 5, 'Hair Care',              'hair-care'),
  (60, 6, 'Board Games',            'board-games'),
  (61, 6, 'Puzzles & STEM Toys',    'puzzles-stem-toys');

-- Product types: (type, subcategory, name, price range in USD, tags).
CREATE UNLOGGED TABLE demodb_gen.product_types (type_id, category_id, type_name, price_lo, price_hi, type_tags) AS VALUES
  (1,  10, 'Wireless Earbuds',            39, 179, '{audio,wireless}'::text[]),
  (2,  10, 'Over-Ear Headphones',         79, 349, '{audio,wireless,noise-cancelling}'),
  (3,  10, 'Bluetooth Speaker',           29, 199, '{audio,wireless,portable}'),
  (4,  11, 'Smart Plug',                  15,  35, '{smart-home}'),
  (5,  11, 'Video Doorbell',              89, 229, '{smart-home,security}'),
  (6,  11, 'Smart Thermostat',           119, 249, '{smart-home,energy-saving}'),
  (7,  12, 'Phone Case',                  15,  49, '{phone}'),
  (8,  12, 'Wireless Charger',            25,  79, '{phone,charging}'),
  (9,  12, 'Power Bank',                  25,  89, '{phone,charging,portable}'),
  (10, 13, 'Mechanical Keyboard',         69, 199, '{computer}'),
  (11, 13, 'Wireless Mouse',              19,  99, '{computer,wireless}'),
  (12, 13, 'USB-C Hub',                   29,  89, '{computer}'),
  (13, 13, 'Laptop Stand',                29,  79, '{computer,ergonomic}'),
  (14, 20, 'Frying Pan',                  29, 129, '{kitchen}'),
  (15, 20, 'Dutch Oven',                  59, 299, '{kitchen}'),
  (16, 20, 'Chef''s Knife',               39, 189, '{kitchen}'),
  (17, 21, 'Pour-Over Kettle',            39, 149, '{coffee}'),
  (18, 21, 'Burr Grinder',                49, 249, '{coffee}'),
  (19, 21, 'Espresso Machine',           199, 799, '{coffee}'),
  (20, 21, 'Loose-Leaf Tea Sampler',      14,  39, '{tea,consumable}'),
  (21, 22, 'Linen Duvet Cover',           89, 229, '{bedroom}'),
  (22, 22, 'Bath Towel Set',              29,  89, '{bath}'),
  (23, 22, 'Memory Foam Pillow',          29,  89, '{bedroom,sleep}'),
  (24, 23, 'Storage Baskets (Set of 3)',  24,  69, '{storage}'),
  (25, 23, 'Drawer Organizer',            12,  39, '{storage}'),
  (26, 30, 'Two-Person Tent',            129, 449, '{camping}'),
  (27, 30, 'Sleeping Bag',                69, 299, '{camping}'),
  (28, 30, 'Trekking Poles',              39, 149, '{hiking}'),
  (29, 30, 'Headlamp',                    19,  69, '{camping,hiking}'),
  (30, 31, 'Bike Light Set',              19,  79, '{cycling}'),
  (31, 31, 'Cycling Helmet',              49, 199, '{cycling,safety}'),
  (32, 31, 'Bike Lock',                   25,  99, '{cycling,security}'),
  (33, 32, 'Yoga Mat',                    25, 119, '{yoga}'),
  (34, 32, 'Adjustable Dumbbells',        99, 399, '{fitness}'),
  (35, 32, 'Resistance Bands',            12,  39, '{fitness}'),
  (36, 40, 'Rain Jacket',                 89, 299, '{outerwear,waterproof}'),
  (37, 40, 'Down Jacket',                129, 399, '{outerwear}'),
  (38, 40, 'Fleece Pullover',             49, 129, '{outerwear}'),
  (39, 41, 'Trail Running Shoes',         89, 179, '{footwear,running}'),
  (40, 41, 'Everyday Sneakers',           59, 139, '{footwear}'),
  (41, 41, 'Hiking Boots',               119, 259, '{footwear,hiking}'),
  (42, 42, 'Daypack',                     49, 149, '{bags}'),
  (43, 42, 'Travel Duffel',               69, 229, '{bags,travel}'),
  (44, 42, 'Laptop Backpack',             59, 169, '{bags,computer}'),
  (45, 50, 'Daily Moisturizer',           14,  59, '{skincare,consumable}'),
  (46, 50, 'Vitamin C Serum',             19,  79, '{skincare,consumable}'),
  (47, 50, 'Mineral Sunscreen SPF 50',    12,  39, '{skincare,consumable}'),
  (48, 51, 'Repair Shampoo',               9,  32, '{haircare,consumable}'),
  (49, 51, 'Ionic Hair Dryer',            49, 299, '{haircare}'),
  (50, 60, 'Strategy Board Game',         29,  79, '{games,family}'),
  (51, 60, 'Party Card Game',             12,  29, '{games,party}'),
  (52, 60, 'Cooperative Adventure Game',  39,  99, '{games,family}'),
  (53, 61, '1000-Piece Puzzle',           15,  35, '{puzzle}'),
  (54, 61, 'Robotics Kit',                49, 149, '{stem,kids}');

-- Brands per department.
CREATE UNLOGGED TABLE demodb_gen.brands (department_id, brands) AS VALUES
  (1, '{Voltaro,Kestrel Audio,Nordlys,Brightwire,Quanta}'::text[]),
  (2, '{Oakhurst,Hearthstone & Co,Maison Ferro,Copperleaf,Linnea}'),
  (3, '{Trailmark,Alpenglow,Ridgeback,Veloce,Summitry}'),
  (4, '{Fjellby,Northbound,Wren & Moss,Cobalt Line}'),
  (5, '{Solenne,Purelle,Verdana Botanics}'),
  (6, '{Tinker Owl,Meeple & Co,Brainwave}');

-- Staging: popularity rank (1 = best seller) and availability window.
-- The rank is a hash-ordered permutation of the ids, so popularity is not
-- tied to ids or categories. The 30 best sellers were all launched before the
-- data window; some others launch during it; a few are discontinued.
CREATE UNLOGGED TABLE demodb_gen.products AS
WITH ranked AS (
  SELECT id, row_number() OVER (ORDER BY demodb_gen.rnd(300, id), id)::integer AS r
  FROM generate_series(1, 200) AS id
)
SELECT id,
       r AS rank,
       CASE WHEN r <= 30 OR demodb_gen.rnd(301, r) < 0.75
            THEN timestamptz '2021-03-01 00:00:00+00' + floor(demodb_gen.rnd(302, r) * 960) * interval '1 day'
            ELSE timestamptz '2023-12-01 00:00:00+00' + floor(demodb_gen.rnd(302, r) * 1000) * interval '1 day'
       END + interval '9 hours' AS launched_at,
       CASE WHEN r > 60 AND demodb_gen.rnd(303, r) < 0.08
            THEN timestamptz '2025-03-01 00:00:00+00' + floor(demodb_gen.rnd(304, r) * 550) * interval '1 day'
       END AS discontinued_at,
       -- review quality: most products 3.8-4.8 stars, a few poor ones
       CASE WHEN demodb_gen.rnd(305, r) < 0.08 THEN 2.7 ELSE 3.8 + 1.0 * demodb_gen.rnd(306, r) END AS quality
FROM ranked;

INSERT INTO public.products (id, sku, name, category_id, brand, list_price, unit_cost, attributes, tags, launched_at, is_active)
SELECT p.id,
       upper(left(dep.slug, 3)) || '-' || upper(left(cat.slug, 3)) || '-' || lpad(p.id::text, 4, '0'),
       b.brand || ' '
         || (ARRAY['Aero','Nimbus','Summit','Ember','Tidal','Lumen','Drift','Forge','Halo','Terra',
                   'Pulse','Breeze','Atlas','Nova','Cove','Ridge','Vista','Orbit','Juniper','Slate'])
            [1 + ((p.id - 1) / 54 + t.type_id * 3) % 20]
         || ' ' || t.type_name,
       t.category_id,
       b.brand,
       b.price,
       round(b.price * (0.35 + 0.25 * demodb_gen.rnd(311, p.id))::numeric, 2),
       CASE dep.id
         WHEN 1 THEN jsonb_build_object(
           'color', demodb_gen.pick('{black,white,graphite,silver,navy}'::text[], demodb_gen.rnd(312, p.id)),
           'weight_g', 40 + floor(demodb_gen.rnd(313, p.id) * 900)::integer,
           'warranty_months', demodb_gen.pick('{12,24,24,36}'::integer[], demodb_gen.rnd(314, p.id)),
           'wireless', t.type_tags @> '{wireless}' OR demodb_gen.rnd(315, p.id) < 0.3)
         WHEN 2 THEN jsonb_build_object(
           'color', demodb_gen.pick('{white,black,sage,terracotta,natural,slate}'::text[], demodb_gen.rnd(312, p.id)),
           'material', demodb_gen.pick('{stainless steel,ceramic,cast iron,bamboo,linen,cotton,glass}'::text[], demodb_gen.rnd(316, p.id)),
           'dishwasher_safe', demodb_gen.rnd(317, p.id) < 0.5,
           'weight_g', 150 + floor(demodb_gen.rnd(313, p.id) * 4000)::integer)
         WHEN 3 THEN jsonb_build_object(
           'color', demodb_gen.pick('{forest green,orange,black,sky blue,sand}'::text[], demodb_gen.rnd(312, p.id)),
           'material', demodb_gen.pick('{ripstop nylon,aluminium,recycled polyester,carbon fiber,TPE foam}'::text[], demodb_gen.rnd(316, p.id)),
           'weight_g', 80 + floor(demodb_gen.rnd(313, p.id) * 3000)::integer,
           'waterproof', demodb_gen.rnd(318, p.id) < 0.45)
         WHEN 4 THEN jsonb_build_object(
           'color', demodb_gen.pick('{black,navy,olive,rust,charcoal,cream}'::text[], demodb_gen.rnd(312, p.id)),
           'material', demodb_gen.pick('{merino wool,organic cotton,recycled polyester,leather,canvas}'::text[], demodb_gen.rnd(316, p.id)),
           'sizes', CASE WHEN t.category_id = 41 THEN '["38","39","40","41","42","43","44","45"]'::jsonb
                         WHEN t.category_id = 42 THEN '["one size"]'::jsonb
                         ELSE '["XS","S","M","L","XL"]'::jsonb END,
           'fit', demodb_gen.pick('{unisex,women,men}'::text[], demodb_gen.rnd(319, p.id)))
         WHEN 5 THEN jsonb_build_object(
           'volume_ml', demodb_gen.pick('{30,50,100,250}'::integer[], demodb_gen.rnd(320, p.id)),
           'skin_type', demodb_gen.pick('{all,dry,oily,sensitive}'::text[], demodb_gen.rnd(321, p.id)),
           'vegan', demodb_gen.rnd(322, p.id) < 0.6,
           'fragrance_free', demodb_gen.rnd(323, p.id) < 0.4)
         ELSE jsonb_build_object(
           'min_age', demodb_gen.pick('{6,8,10,12,14}'::integer[], demodb_gen.rnd(324, p.id)),
           'players', demodb_gen.pick('{1,1-4,2-4,2-6,3-8}'::text[], demodb_gen.rnd(325, p.id)),
           'playtime_min', demodb_gen.pick('{15,30,45,60,90}'::integer[], demodb_gen.rnd(326, p.id)))
       END,
       t.type_tags || array_remove(ARRAY[
         CASE WHEN p.rank <= 15 THEN 'bestseller' END,
         CASE WHEN p.launched_at >= timestamptz '2026-05-01 00:00:00+00' THEN 'new' END,
         CASE WHEN demodb_gen.rnd(327, p.id) < 0.2 THEN 'eco' END,
         CASE WHEN demodb_gen.rnd(328, p.id) < 0.25 THEN 'gift-idea' END,
         CASE WHEN b.price >= t.price_lo + 0.75 * (t.price_hi - t.price_lo) THEN 'premium' END], NULL),
       p.launched_at,
       p.discontinued_at IS NULL
FROM demodb_gen.products AS p
JOIN demodb_gen.product_types AS t ON t.type_id = 1 + (p.id - 1) % 54
JOIN public.categories AS cat ON cat.id = t.category_id
JOIN public.categories AS dep ON dep.id = cat.parent_id
JOIN demodb_gen.brands AS bs ON bs.department_id = dep.id
CROSS JOIN LATERAL (SELECT
    demodb_gen.pick(bs.brands, demodb_gen.rnd(310, p.id)) AS brand,
    (round(t.price_lo + (t.price_hi - t.price_lo) * power(demodb_gen.rnd(309, p.id), 1.3)) - 0.01)::numeric(10,2) AS price) AS b
ORDER BY p.id;

-- ---------------------------------------------------------------------------
-- Orders (~40,000)
-- ---------------------------------------------------------------------------

-- How many orders each customer places: customers stay active for a while
-- after signing up (about 40% are still active after two years), order at a
-- heavy-tailed personal rate while active (10% never buy, a few buy very
-- often), and business accounts buy more often.
CREATE UNLOGGED TABLE demodb_gen.order_counts AS
WITH a AS (
  SELECT gc.id AS customer_id, gc.day_idx AS signup_day_idx,
         least(1095, gc.day_idx + floor(-ln(1 - demodb_gen.rnd(404, gc.id)) * 900)::integer) AS active_until_idx,
         CASE WHEN demodb_gen.rnd(401, gc.id) < 0.10 THEN 0
              ELSE least(4.5, power(-ln(1 - demodb_gen.rnd(402, gc.id)), 1.4)) END
         * CASE WHEN c.segment = 'business' THEN 1.7 ELSE 1 END AS orders_per_year
  FROM demodb_gen.customers AS gc
  JOIN public.customers AS c ON c.id = gc.id
)
SELECT customer_id, signup_day_idx, active_until_idx,
       floor(7.2 * orders_per_year * (active_until_idx - signup_day_idx + 1) / 365.0
             + demodb_gen.rnd(403, customer_id))::integer AS n_orders
FROM a;

-- Order timestamps: a customer's first order often follows the signup within
-- three days; other orders fall on days drawn from the seasonal calendar,
-- while the customer is active.
CREATE UNLOGGED TABLE demodb_gen.order_times AS
WITH cal AS MATERIALIZED (
  SELECT order_cum[:] AS order_cum FROM demodb_gen.cal
), o AS MATERIALIZED (
  SELECT oc.customer_id, j, oc.signup_day_idx, oc.active_until_idx, c.signed_up_at,
         oc.customer_id::bigint * 1000 + j AS k
  FROM demodb_gen.order_counts AS oc
  JOIN public.customers AS c ON c.id = oc.customer_id
  CROSS JOIN LATERAL generate_series(1, oc.n_orders) AS j
), t AS (
  SELECT o.*,
         CASE WHEN j = 1 AND demodb_gen.rnd(410, k) < 0.55
              THEN signed_up_at + floor(300 + power(demodb_gen.rnd(411, k), 2) * 72 * 3600) * interval '1 second'
              ELSE timestamptz '2023-11-01 00:00:00+00'
                   + demodb_gen.pick_day(cal.order_cum, signup_day_idx, active_until_idx, demodb_gen.rnd(412, k)) * interval '1 day'
                   + demodb_gen.tod(demodb_gen.rnd(413, k), demodb_gen.rnd(414, k))
         END AS ts0
  FROM o, cal
)
SELECT customer_id, j,
       least(CASE WHEN ts0 < signed_up_at + interval '5 minutes'
                  THEN signed_up_at + floor(300 + demodb_gen.rnd(415, k) * 6 * 3600) * interval '1 second'
                  ELSE ts0 END,
             timestamptz '2026-10-31 23:59:59+00') AS ordered_at
FROM t;

-- One row per order with everything decided by dice; ids in time order.
CREATE UNLOGGED TABLE demodb_gen.orders AS
WITH numbered AS (
  SELECT row_number() OVER (ORDER BY ordered_at, customer_id, j)::integer AS id,
         row_number() OVER (PARTITION BY customer_id ORDER BY ordered_at, j)::integer AS nth,
         customer_id, ordered_at
  FROM demodb_gen.order_times
), coupons AS (
  SELECT n.*, c.segment, c.country_code, c.city,
         extract(year FROM n.ordered_at)::integer AS yr,
         CASE WHEN d.is_black_friday AND demodb_gen.rnd(420, n.id) < 0.6 THEN 'BLACKFRIDAY' || extract(year FROM n.ordered_at)
              WHEN n.nth = 1 AND demodb_gen.rnd(421, n.id) < 0.35 THEN 'WELCOME10'
              WHEN d.is_summer_sale AND demodb_gen.rnd(422, n.id) < 0.4 THEN 'SUMMER15'
              WHEN d.is_new_year AND demodb_gen.rnd(423, n.id) < 0.25 THEN 'NEWYEAR10'
              WHEN n.nth >= 5 AND demodb_gen.rnd(424, n.id) < 0.06 THEN 'LOYALTY5'
         END AS coupon_code
  FROM numbered AS n
  JOIN public.customers AS c ON c.id = n.customer_id
  JOIN demodb_gen.days AS d ON d.day = (n.ordered_at AT TIME ZONE 'UTC')::date
)
SELECT o.id, o.customer_id, o.nth, o.ordered_at, o.segment,
       CASE o.yr
         WHEN 2026 THEN demodb_gen.wpick('{web,ios_app,android_app,marketplace}'::text[], '{46,25,19,10}', demodb_gen.rnd(425, o.id))
         WHEN 2025 THEN demodb_gen.wpick('{web,ios_app,android_app,marketplace}'::text[], '{52,21,16,11}', demodb_gen.rnd(425, o.id))
         ELSE           demodb_gen.wpick('{web,ios_app,android_app,marketplace}'::text[], '{58,17,13,12}', demodb_gen.rnd(425, o.id))
       END AS channel,
       o.country_code AS ship_country_code,
       CASE WHEN demodb_gen.rnd(426, o.id) < 0.92 THEN o.city
            ELSE demodb_gen.pick(m.cities, demodb_gen.rnd(427, o.id)) END AS ship_city,
       o.coupon_code,
       CASE WHEN o.coupon_code LIKE 'BLACKFRIDAY%' THEN 20
            WHEN o.coupon_code = 'SUMMER15' THEN 15
            WHEN o.coupon_code IN ('WELCOME10', 'NEWYEAR10') THEN 10
            WHEN o.coupon_code = 'LOYALTY5' THEN 5
            ELSE 0 END AS discount_pct,
       CASE WHEN o.segment = 'business'
            THEN demodb_gen.wpick('{1,2,3,4,5,6}'::integer[], '{20,25,22,15,10,8}', demodb_gen.rnd(428, o.id))
            ELSE demodb_gen.wpick('{1,2,3,4,5,6}'::integer[], '{30,28,18,12,7,5}', demodb_gen.rnd(428, o.id))
       END AS n_lines,
       -- what happens to the order
       demodb_gen.rnd(430, o.id) < 0.045 AS will_cancel,
       demodb_gen.rnd(431, o.id) < 0.65 AS cancel_after_payment,
       o.ordered_at > timestamptz '2026-10-30 12:00:00+00' AND demodb_gen.rnd(432, o.id) < 0.3 AS still_pending,
       demodb_gen.rnd(433, o.id) < 0.04 AS will_refund,
       o.ordered_at + interval '15 minutes' + floor(power(demodb_gen.rnd(437, o.id), 2) * 36 * 3600) * interval '1 second' AS cancel_ts,
       o.ordered_at + interval '2 hours'
         + floor(power(demodb_gen.rnd(434, o.id), 1.5) * 3 * 86400) * interval '1 second' AS ship_ts,
       interval '1 day' + floor(demodb_gen.rnd(435, o.id) * 4 * 86400) * interval '1 second'
         + CASE WHEN o.country_code IN ('AU', 'JP', 'IN', 'BR', 'MX') THEN interval '2 days' ELSE interval '0' END AS transit,
       interval '3 days' + floor(demodb_gen.rnd(436, o.id) * 25 * 86400) * interval '1 second' AS refund_after
FROM coupons AS o
JOIN demodb_gen.country_mix AS m ON m.code = o.country_code;

-- Order lines. Products are drawn by popularity rank (the top 10 of 200
-- products get ~20% of the lines, the top 50 ~50%); a product not on sale
-- at the time of the order is replaced by one of the 30 best sellers;
-- duplicate products within an order are dropped and the lines renumbered.
-- Business accounts buy larger quantities. Prices rose ~10% over the three
-- years; coupon discounts are per line.
INSERT INTO public.order_items (order_id, line_no, product_id, quantity, unit_price, discount_amount)
WITH drawn AS (
  SELECT o.id AS order_id, l, o.ordered_at, o.segment, o.discount_pct,
         o.id::bigint * 10 + l AS k,
         1 + floor(200 * power(demodb_gen.rnd(501, o.id::bigint * 10 + l), 1.8))::integer AS rank
  FROM demodb_gen.orders AS o
  CROSS JOIN LATERAL generate_series(1, o.n_lines) AS l
), available AS (
  SELECT d.*,
         CASE WHEN p.launched_at <= d.ordered_at AND (p.discontinued_at IS NULL OR p.discontinued_at > d.ordered_at)
              THEN p.id
              ELSE fb.id
         END AS product_id
  FROM drawn AS d
  JOIN demodb_gen.products AS p ON p.rank = d.rank
  JOIN demodb_gen.products AS fb ON fb.rank = 1 + floor(30 * demodb_gen.rnd(502, d.k))::integer
), dedup AS (
  SELECT DISTINCT ON (order_id, product_id) *
  FROM available
  ORDER BY order_id, product_id, l
), priced AS (
  SELECT d.order_id,
         row_number() OVER (PARTITION BY d.order_id ORDER BY d.l)::smallint AS line_no,
         d.product_id,
         CASE WHEN d.segment = 'business'
              THEN 1 + floor(power(demodb_gen.rnd(503, d.k), 3) * 10)::integer
              ELSE demodb_gen.wpick('{1,2,3,4}'::integer[], '{80,13,4,3}', demodb_gen.rnd(503, d.k))
         END AS quantity,
         -- prices rose ~10% over the three years; .99 endings
         greatest(round(pr.list_price
                        * (0.90 + 0.10 * extract(epoch FROM d.ordered_at - timestamptz '2023-11-01 00:00:00+00') / (1096 * 86400))::numeric)
                  - 0.01, 0.99) AS unit_price,
         d.discount_pct
  FROM dedup AS d
  JOIN public.products AS pr ON pr.id = d.product_id
)
SELECT order_id, line_no, product_id, quantity, unit_price,
       round(quantity * unit_price * discount_pct / 100.0, 2)
FROM priced
ORDER BY order_id, line_no;

-- The orders: status as of the end of the window (from the dice above and
-- the shipping, delivery and refund delays), totals from their lines.
INSERT INTO public.orders (id, customer_id, status, channel, ordered_at, shipped_at, delivered_at, cancelled_at,
                           ship_country_code, ship_city, coupon_code, item_count, total_amount)
SELECT o.id, o.customer_id, s.status, o.channel, o.ordered_at,
       CASE WHEN s.status IN ('shipped', 'delivered', 'refunded') THEN o.ship_ts END,
       CASE WHEN s.status IN ('delivered', 'refunded') THEN o.ship_ts + o.transit END,
       CASE WHEN s.status = 'cancelled' THEN least(o.cancel_ts, timestamptz '2026-10-31 23:59:59+00') END,
       o.ship_country_code, o.ship_city, o.coupon_code,
       i.units, i.total
FROM demodb_gen.orders AS o
JOIN (SELECT order_id, sum(quantity)::integer AS units, sum(line_total) AS total
      FROM public.order_items GROUP BY order_id) AS i ON i.order_id = o.id
CROSS JOIN LATERAL (SELECT (CASE
    WHEN o.will_cancel THEN 'cancelled'
    WHEN o.still_pending THEN 'pending'
    WHEN o.ship_ts > timestamptz '2026-10-31 23:59:59+00' THEN 'paid'
    WHEN o.ship_ts + o.transit > timestamptz '2026-10-31 23:59:59+00' THEN 'shipped'
    WHEN o.will_refund AND o.ship_ts + o.transit + o.refund_after <= timestamptz '2026-10-31 23:59:59+00' THEN 'refunded'
    ELSE 'delivered' END)::public.order_status AS status) AS s
ORDER BY o.id;

-- ---------------------------------------------------------------------------
-- Payments
-- ---------------------------------------------------------------------------

-- Every order past "pending" was paid right away (one captured transaction
-- for its total), except orders cancelled before payment. Cancelled-after-
-- payment and refunded orders get a refund of the full amount. About 3.5%
-- of orders had a declined attempt first.
INSERT INTO public.payments (id, order_id, method, status, amount, processed_at, provider)
WITH base AS (
  SELECT o.id, o.status, o.channel, o.total_amount, o.ordered_at, o.cancelled_at, o.delivered_at,
         g.refund_after,
         NOT (o.status = 'cancelled' AND NOT g.cancel_after_payment) AS paid,
         CASE o.channel
           WHEN 'ios_app' THEN demodb_gen.wpick('{card,paypal,apple_pay,google_pay,gift_card}'::public.payment_method[], '{45,12,35,0,8}', demodb_gen.rnd(601, o.id))
           WHEN 'android_app' THEN demodb_gen.wpick('{card,paypal,apple_pay,google_pay,gift_card}'::public.payment_method[], '{50,15,0,28,7}', demodb_gen.rnd(601, o.id))
           ELSE demodb_gen.wpick('{card,paypal,apple_pay,google_pay,gift_card}'::public.payment_method[], '{62,20,8,5,5}', demodb_gen.rnd(601, o.id))
         END AS method
  FROM public.orders AS o
  JOIN demodb_gen.orders AS g ON g.id = o.id
  WHERE o.status <> 'pending'
), tx AS (
  -- declined attempts (always by card)
  SELECT id AS order_id, 1 AS seq, 'card'::public.payment_method AS method, 'failed'::public.payment_status AS status,
         total_amount AS amount,
         ordered_at + floor(20 + demodb_gen.rnd(602, id) * 70) * interval '1 second' AS processed_at
  FROM base
  WHERE demodb_gen.rnd(603, id) < CASE WHEN paid THEN 0.035 ELSE 0.5 END
  UNION ALL
  -- captures
  SELECT id, 2, method, 'captured', total_amount,
         least(ordered_at + floor(100 + demodb_gen.rnd(604, id) * 200) * interval '1 second',
               timestamptz '2026-10-31 23:59:59+00')
  FROM base
  WHERE paid
  UNION ALL
  -- refunds, to the same method
  SELECT id, 3, method, 'refunded', total_amount,
         CASE WHEN status = 'cancelled'
              THEN least(cancelled_at + floor(300 + demodb_gen.rnd(605, id) * 3300) * interval '1 second',
                         timestamptz '2026-10-31 23:59:59+00')
              ELSE delivered_at + refund_after END
  FROM base
  WHERE paid AND status IN ('cancelled', 'refunded')
)
SELECT row_number() OVER (ORDER BY processed_at, order_id, seq)::integer,
       order_id, method, status, amount, processed_at,
       CASE method
         WHEN 'paypal' THEN 'paypal'
         WHEN 'gift_card' THEN 'giftcard'
         ELSE CASE WHEN demodb_gen.rnd(606, order_id) < 0.7 THEN 'stripe' ELSE 'adyen' END
       END
FROM tx
ORDER BY 1;

-- ---------------------------------------------------------------------------
-- Reviews
-- ---------------------------------------------------------------------------

-- About 13% of delivered order lines get a review (35% of refunded ones),
-- 1-30 days after delivery. Ratings centre on a per-product quality (a few
-- products are poor), lower for refunded orders.
INSERT INTO public.reviews (id, order_id, line_no, product_id, customer_id, rating, title, body, helpful_votes, created_at)
WITH cand AS (
  SELECT i.order_id, i.line_no, i.product_id, o.customer_id, o.status, o.delivered_at,
         i.order_id::bigint * 10 + i.line_no AS k,
         gp.quality, lower(t.type_name) AS type_name
  FROM public.order_items AS i
  JOIN public.orders AS o ON o.id = i.order_id
  JOIN demodb_gen.products AS gp ON gp.id = i.product_id
  JOIN demodb_gen.product_types AS t ON t.type_id = 1 + (i.product_id - 1) % 54
  WHERE o.status IN ('delivered', 'refunded')
    AND demodb_gen.rnd(701, i.order_id::bigint * 10 + i.line_no) < CASE WHEN o.status = 'refunded' THEN 0.35 ELSE 0.13 END
), rated AS (
  SELECT c.*,
         c.delivered_at + interval '1 day' + floor(power(demodb_gen.rnd(702, k), 1.5) * 29 * 86400) * interval '1 second' AS created_at,
         greatest(1, least(5, round(c.quality
                                    + (demodb_gen.rnd(703, k) + demodb_gen.rnd(704, k) + demodb_gen.rnd(705, k) - 1.5) * 1.8
                                    - CASE WHEN c.status = 'refunded' THEN 1.6 ELSE 0 END)))::smallint AS rating
  FROM cand AS c
)
SELECT row_number() OVER (ORDER BY created_at, order_id, line_no)::integer,
       order_id, line_no, product_id, customer_id, rating,
       CASE rating
         WHEN 5 THEN demodb_gen.pick('{Absolutely love it,Exceeded my expectations,Best purchase this year,Perfect,Worth every penny,Would buy again}'::text[], demodb_gen.rnd(706, k))
         WHEN 4 THEN demodb_gen.pick('{Very good,Really happy with it,Great value,Solid choice,Does the job well,Nice quality}'::text[], demodb_gen.rnd(706, k))
         WHEN 3 THEN demodb_gen.pick('{It''s okay,Decent but not great,Average,Mixed feelings,Fine for the price}'::text[], demodb_gen.rnd(706, k))
         WHEN 2 THEN demodb_gen.pick('{Disappointed,Not as described,Expected more,Quality could be better,Meh}'::text[], demodb_gen.rnd(706, k))
         ELSE        demodb_gen.pick('{Terrible,Broke after a week,Do not buy,Returned it,Waste of money}'::text[], demodb_gen.rnd(706, k))
       END,
       CASE WHEN demodb_gen.rnd(707, k) < 0.3 THEN NULL ELSE
         CASE WHEN rating >= 4
              THEN demodb_gen.pick('{I use it every day.,Bought this as a gift and they loved it.,Arrived quickly and well packed.,Far better than the one I had before.,Good product overall.}'::text[], demodb_gen.rnd(708, k))
                   || ' The ' || type_name
                   || demodb_gen.pick('{" feels well made."," looks even better in person."," was easy to set up."," is exactly what I needed."}'::text[], demodb_gen.rnd(709, k))
                   || demodb_gen.pick('{""," Would recommend."," Will buy again."," Great value for money."}'::text[], demodb_gen.rnd(710, k))
              WHEN rating = 3
              THEN demodb_gen.pick('{It works, but nothing special.,Some good points, some bad.,Okay for occasional use.}'::text[], demodb_gen.rnd(708, k))
                   || ' The ' || type_name
                   || demodb_gen.pick('{" is a bit smaller than expected."," feels a little flimsy."," does what it says."}'::text[], demodb_gen.rnd(709, k))
              ELSE demodb_gen.pick('{Not what I hoped for.,The quality feels cheap.,Stopped working after a few days.,Arrived damaged.}'::text[], demodb_gen.rnd(708, k))
                   || ' The ' || type_name
                   || demodb_gen.pick('{" looks nothing like the photos."," broke quickly."," is badly finished."}'::text[], demodb_gen.rnd(709, k))
                   || demodb_gen.pick('{""," Asked for a refund."," Customer service was slow to reply."}'::text[], demodb_gen.rnd(710, k))
         END
       END,
       floor(power(demodb_gen.rnd(711, k), 3) * 40)::integer,
       created_at
FROM rated
WHERE created_at <= timestamptz '2026-10-31 23:59:59+00'
ORDER BY 1;

-- ---------------------------------------------------------------------------
-- billing: plans, subscriptions, payment cards, invoices
-- ---------------------------------------------------------------------------

INSERT INTO billing.plans (id, code, name, tier, billing_interval, price, trial_days, features, is_public, available_from, retired_at) VALUES
  (1, 'plus_launch_monthly', 'Plus (monthly, launch price)', 'Plus', 'month', 7.99, 14,
   '{"free_shipping": true, "member_discount_pct": 5, "returns_days": 60, "early_access": false}', false, '2023-11-01', '2024-06-30'),
  (2, 'plus_monthly', 'Plus (monthly)', 'Plus', 'month', 9.99, 14,
   '{"free_shipping": true, "member_discount_pct": 5, "returns_days": 60, "early_access": false}', true, '2024-07-01', NULL),
  (3, 'plus_annual', 'Plus (annual)', 'Plus', 'year', 99.00, 14,
   '{"free_shipping": true, "member_discount_pct": 5, "returns_days": 60, "early_access": false}', true, '2023-11-01', NULL),
  (4, 'premier_monthly', 'Premier (monthly)', 'Premier', 'month', 19.99, 14,
   '{"free_shipping": true, "express_shipping": true, "member_discount_pct": 10, "returns_days": 90, "early_access": true}', true, '2024-03-01', NULL),
  (5, 'premier_annual', 'Premier (annual)', 'Premier', 'year', 199.00, 0,
   '{"free_shipping": true, "express_shipping": true, "member_discount_pct": 10, "returns_days": 90, "early_access": true}', true, '2024-03-01', NULL),
  (6, 'business_monthly', 'Business (monthly)', 'Business', 'month', 49.00, 30,
   '{"free_shipping": true, "express_shipping": true, "member_discount_pct": 12, "returns_days": 90, "early_access": true, "invoicing": true, "seats": 5}', true, '2025-01-15', NULL);

-- Who subscribes and when: ~23% of customers (more among frequent buyers and
-- business accounts), some time after signing up. Generation 2 rows (added
-- below) are comebacks after a cancellation.
CREATE UNLOGGED TABLE demodb_gen.sub_starts AS
SELECT c.id AS customer_id, 1 AS generation, c.segment,
       c.signed_up_at + floor(3600 + power(demodb_gen.rnd(802, c.id), 1.5) * 400 * 86400) * interval '1 second' AS started_at,
       c.id::bigint * 10 + 1 AS k
FROM public.customers AS c
JOIN demodb_gen.order_counts AS oc ON oc.customer_id = c.id
WHERE demodb_gen.rnd(801, c.id) < 0.20
        + CASE WHEN oc.n_orders >= 5 THEN 0.15 ELSE 0 END
        + CASE WHEN c.segment = 'business' THEN 0.10 ELSE 0 END
  AND c.signed_up_at + floor(3600 + power(demodb_gen.rnd(802, c.id), 1.5) * 400 * 86400) * interval '1 second'
      < timestamptz '2026-10-31 23:00:00+00';

-- The life of a subscription, computed from its start and dice: plan (from
-- those on sale at the start), trial conversion, number of billed periods
-- (geometric, from a per-plan churn hazard), voluntary or involuntary end.
CREATE VIEW demodb_gen.sub_life AS
WITH p AS (
  SELECT s.*,
         CASE
           WHEN s.segment = 'business' AND s.started_at >= timestamptz '2025-01-15 00:00:00+00' AND demodb_gen.rnd(803, s.k) < 0.7 THEN 6
           ELSE CASE demodb_gen.wpick('{plus_m,plus_y,premier_m,premier_y}'::text[], '{45,22,20,13}', demodb_gen.rnd(804, s.k))
                  WHEN 'plus_y' THEN 3
                  -- Premier launched 2024-03-01; before that, Plus (launch price)
                  WHEN 'premier_m' THEN CASE WHEN s.started_at >= timestamptz '2024-03-01 00:00:00+00' THEN 4 ELSE 1 END
                  WHEN 'premier_y' THEN CASE WHEN s.started_at >= timestamptz '2024-03-01 00:00:00+00' THEN 5 ELSE 3 END
                  ELSE CASE WHEN s.started_at >= timestamptz '2024-07-01 00:00:00+00' THEN 2 ELSE 1 END
                END
         END::smallint AS plan_id
  FROM demodb_gen.sub_starts AS s
), q AS (
  SELECT p.*, pl.billing_interval, pl.price, pl.trial_days,
         CASE pl.billing_interval WHEN 'month' THEN interval '1 month' ELSE interval '1 year' END AS period,
         CASE WHEN pl.trial_days > 0 THEN p.started_at + pl.trial_days * interval '1 day' END AS trial_ends_at,
         coalesce(p.started_at + pl.trial_days * interval '1 day', p.started_at) AS anchor,
         pl.trial_days = 0 OR demodb_gen.rnd(805, p.k) >= 0.22 AS converts,
         -- number of invoiced periods before the subscription ends (>= 1)
         1 + floor(ln(1 - demodb_gen.rnd(806, p.k))
                   / ln(1 - CASE p.plan_id WHEN 1 THEN 0.035 WHEN 2 THEN 0.045 WHEN 3 THEN 0.25
                                           WHEN 4 THEN 0.035 WHEN 5 THEN 0.22 ELSE 0.025 END))::integer AS n_periods,
         demodb_gen.rnd(807, p.k) < 0.15 AS involuntary,
         demodb_gen.rnd(809, p.k) < 0.03 AS late_payer
  FROM p
  JOIN billing.plans AS pl ON pl.id = p.plan_id
), r AS (
  SELECT q.*,
         -- periods started by the end of the window
         CASE WHEN q.anchor > timestamptz '2026-10-31 23:59:59+00' THEN 0
              WHEN q.billing_interval = 'month'
              THEN 1 + (extract(year FROM age(timestamptz '2026-10-31 23:59:59+00', q.anchor)) * 12
                        + extract(month FROM age(timestamptz '2026-10-31 23:59:59+00', q.anchor)))::integer
              ELSE 1 + extract(year FROM age(timestamptz '2026-10-31 23:59:59+00', q.anchor))::integer
         END AS n_started,
         CASE WHEN NOT q.converts
              THEN q.started_at + floor(demodb_gen.rnd(808, q.k) * q.trial_days * 86400) * interval '1 second'
              WHEN q.involuntary
              THEN q.anchor + (q.n_periods - 1) * q.period + interval '14 days'
              ELSE q.anchor + q.n_periods * q.period
         END AS end_ts
  FROM q
)
SELECT r.*,
       CASE WHEN r.end_ts <= timestamptz '2026-10-31 23:59:59+00' THEN 'canceled'
            WHEN r.trial_ends_at > timestamptz '2026-10-31 23:59:59+00' THEN 'trialing'
            WHEN r.involuntary AND r.n_periods <= r.n_started THEN 'past_due'
            WHEN r.late_payer THEN 'past_due'
            ELSE 'active'
       END::billing.subscription_status AS status,
       CASE WHEN r.end_ts > timestamptz '2026-10-31 23:59:59+00' THEN NULL
            WHEN NOT r.converts THEN 'trial_not_converted'
            WHEN r.involuntary THEN 'payment_failed'
            ELSE demodb_gen.wpick('{too_expensive,not_using_benefits,switched_to_competitor,other}'::text[],
                                  '{35,30,12,23}', demodb_gen.rnd(810, r.k))
       END AS cancel_reason
FROM r;

-- Comebacks: a fifth of the voluntary cancellations re-subscribe 1-10 months later.
INSERT INTO demodb_gen.sub_starts (customer_id, generation, segment, started_at, k)
SELECT customer_id, 2, segment,
       end_ts + floor((30 + demodb_gen.rnd(812, k) * 270) * 86400) * interval '1 second',
       customer_id::bigint * 10 + 2
FROM demodb_gen.sub_life
WHERE generation = 1 AND status = 'canceled' AND cancel_reason <> 'payment_failed'
  AND demodb_gen.rnd(811, k) < 0.2
  AND end_ts + floor((30 + demodb_gen.rnd(812, k) * 270) * 86400) * interval '1 second' < timestamptz '2026-10-31 23:00:00+00';

CREATE UNLOGGED TABLE demodb_gen.subs AS
SELECT row_number() OVER (ORDER BY started_at, customer_id)::integer AS id, *
FROM demodb_gen.sub_life;

-- Cards: each member saves a card when first subscribing; 30% add a second
-- one later, which becomes the default.
CREATE UNLOGGED TABLE demodb_gen.cards AS
WITH firsts AS (
  SELECT customer_id, min(started_at) AS first_start
  FROM demodb_gen.subs GROUP BY customer_id
), c AS (
  SELECT customer_id, 1 AS n, first_start - floor(60 + demodb_gen.rnd(821, customer_id) * 600) * interval '1 second' AS created_at
  FROM firsts
  UNION ALL
  SELECT customer_id, 2, first_start + floor(demodb_gen.rnd(823, customer_id)
                                             * extract(epoch FROM timestamptz '2026-10-31 23:00:00+00' - first_start)) * interval '1 second'
  FROM firsts
  WHERE demodb_gen.rnd(822, customer_id) < 0.3
)
SELECT row_number() OVER (ORDER BY created_at, customer_id, n)::integer AS id, *
FROM c;

INSERT INTO billing.payment_cards (id, customer_id, brand, last4, exp_month, exp_year, fingerprint, cardholder_name,
                                   billing_postal_code, is_default, created_at)
SELECT k.id, k.customer_id,
       demodb_gen.wpick('{visa,mastercard,amex}'::text[], '{55,35,10}', demodb_gen.rnd(831, k.id)),
       lpad(floor(demodb_gen.rnd(832, k.id) * 10000)::integer::text, 4, '0'),
       1 + floor(demodb_gen.rnd(833, k.id) * 12)::integer,
       extract(year FROM k.created_at)::integer + 3 + floor(demodb_gen.rnd(834, k.id) * 4)::integer,
       md5('larkspur-card:' || k.id),
       upper(translate(c.first_name || ' ' || c.last_name, 'áàâäãåçéèêëíìîïñóòôöõøúùûüýÿß', 'aaaaaaceeeeiiiinoooooouuuuyys')),
       CASE c.country_code
         WHEN 'GB' THEN chr(65 + floor(demodb_gen.rnd(835, k.id) * 26)::integer) || chr(65 + floor(demodb_gen.rnd(836, k.id) * 26)::integer)
                        || (1 + floor(demodb_gen.rnd(837, k.id) * 20)::integer) || ' ' || floor(demodb_gen.rnd(838, k.id) * 10)::integer
                        || chr(65 + floor(demodb_gen.rnd(839, k.id) * 26)::integer) || chr(65 + floor(demodb_gen.rnd(840, k.id) * 26)::integer)
         WHEN 'NL' THEN (1000 + floor(demodb_gen.rnd(835, k.id) * 9000)::integer) || ' '
                        || chr(65 + floor(demodb_gen.rnd(836, k.id) * 26)::integer) || chr(65 + floor(demodb_gen.rnd(837, k.id) * 26)::integer)
         WHEN 'CA' THEN chr(65 + floor(demodb_gen.rnd(835, k.id) * 26)::integer) || floor(demodb_gen.rnd(836, k.id) * 10)::integer
                        || chr(65 + floor(demodb_gen.rnd(837, k.id) * 26)::integer) || ' ' || floor(demodb_gen.rnd(838, k.id) * 10)::integer
                        || chr(65 + floor(demodb_gen.rnd(839, k.id) * 26)::integer) || floor(demodb_gen.rnd(840, k.id) * 10)::integer
         WHEN 'IE' THEN 'D' || lpad(floor(demodb_gen.rnd(835, k.id) * 25)::integer::text, 2, '0')
         WHEN 'AU' THEN (2000 + floor(demodb_gen.rnd(835, k.id) * 6000)::integer)::text
         WHEN 'SE' THEN (10000 + floor(demodb_gen.rnd(835, k.id) * 89999)::integer)::text
         WHEN 'JP' THEN lpad(floor(demodb_gen.rnd(835, k.id) * 1000)::integer::text, 3, '0') || '-' || lpad(floor(demodb_gen.rnd(836, k.id) * 10000)::integer::text, 4, '0')
         WHEN 'IN' THEN (110000 + floor(demodb_gen.rnd(835, k.id) * 800000)::integer)::text
         WHEN 'BR' THEN lpad(floor(demodb_gen.rnd(835, k.id) * 100000)::integer::text, 5, '0') || '-' || lpad(floor(demodb_gen.rnd(836, k.id) * 1000)::integer::text, 3, '0')
         ELSE lpad(floor(demodb_gen.rnd(835, k.id) * 100000)::integer::text, 5, '0')
       END,
       k.n = max(k.n) OVER (PARTITION BY k.customer_id),
       k.created_at
FROM demodb_gen.cards AS k
JOIN public.customers AS c ON c.id = k.customer_id
ORDER BY k.id;

INSERT INTO billing.subscriptions (id, customer_id, plan_id, payment_card_id, status, started_at, trial_ends_at,
                                   current_period_start, current_period_end, canceled_at, cancel_reason)
SELECT s.id, s.customer_id, s.plan_id,
       (SELECT k.id FROM demodb_gen.cards AS k
        WHERE k.customer_id = s.customer_id AND k.created_at <= s.started_at
        ORDER BY k.created_at DESC LIMIT 1),
       s.status, s.started_at, s.trial_ends_at,
       CASE WHEN s.status IN ('active', 'past_due') THEN s.anchor + (s.n_started - 1) * s.period END,
       CASE WHEN s.status IN ('active', 'past_due') THEN s.anchor + s.n_started * s.period END,
       CASE WHEN s.status = 'canceled' THEN s.end_ts END,
       s.cancel_reason
FROM demodb_gen.subs AS s
ORDER BY s.id;

-- One invoice per started billing period of a converted subscription.
-- Paid within two hours by card, except the last invoice of an involuntary
-- churn (uncollectible after 14 days, open before) and the current invoice
-- of a late payer (open). 12% of members got 50% off their first period.
INSERT INTO billing.invoices (id, invoice_number, subscription_id, customer_id, period_start, period_end, issued_at,
                              due_at, paid_at, status, subtotal, discount_amount, amount_paid)
WITH inv AS (
  SELECT s.id AS subscription_id, s.customer_id, s.k, n, s.price,
         s.anchor + n * s.period AS period_start,
         s.anchor + (n + 1) * s.period AS period_end,
         CASE WHEN s.involuntary AND n = s.n_periods - 1
              THEN CASE WHEN s.status = 'canceled' THEN 'uncollectible' ELSE 'open' END
              WHEN s.late_payer AND s.status = 'past_due' AND n = s.n_started - 1 THEN 'open'
              ELSE 'paid'
         END::billing.invoice_status AS status,
         CASE WHEN n = 0 AND demodb_gen.rnd(851, s.k) < 0.12 THEN round(s.price / 2, 2) ELSE 0 END AS discount
  FROM demodb_gen.subs AS s
  CROSS JOIN LATERAL generate_series(0, least(s.n_periods, s.n_started) - 1) AS n
  WHERE s.converts
), numbered AS (
  SELECT row_number() OVER (ORDER BY period_start, subscription_id)::integer AS id,
         row_number() OVER (PARTITION BY extract(year FROM period_start) ORDER BY period_start, subscription_id) AS seq_in_year,
         inv.*
  FROM inv
)
SELECT id,
       'LP-' || extract(year FROM period_start) || '-' || lpad(seq_in_year::text, 6, '0'),
       subscription_id, customer_id, period_start, period_end, period_start, period_start + interval '7 days',
       CASE WHEN status = 'paid'
            THEN least(period_start + floor(30 + demodb_gen.rnd(852, k * 1000 + n) * 7200) * interval '1 second',
                       timestamptz '2026-10-31 23:59:59+00') END,
       status, price, discount,
       CASE WHEN status = 'paid' THEN price - discount ELSE 0 END
FROM numbered
ORDER BY id;

-- ---------------------------------------------------------------------------
-- analytics.events (~200,000, 2025-01-01 .. 2026-10-31)
-- ---------------------------------------------------------------------------

-- Browsing sessions: 60% by logged-in customers (picked in proportion to how
-- much they order, after their signup), the rest anonymous. Each session is
-- a landing page view followed by a few more events, about a minute apart.
CREATE UNLOGGED TABLE demodb_gen.sessions AS
WITH cal AS MATERIALIZED (
  SELECT order_cum[:] AS order_cum FROM demodb_gen.cal
), mix AS (
  SELECT array_agg(code ORDER BY ord) AS codes, demodb_gen.cum(array_agg(weight ORDER BY ord)) AS cum
  FROM demodb_gen.country_mix
), n_orders AS (
  SELECT count(*) AS n FROM demodb_gen.orders
), s AS MATERIALIZED (
  -- (materialized so that the big calendar array is joined last and never
  -- dragged through a sort)
  SELECT gs.g, o.customer_id, c.signed_up_at,
         coalesce(c.country_code, mix.codes[width_bucket(demodb_gen.rnd(903, gs.g), mix.cum)]) AS country_code,
         greatest(427, coalesce(gc.day_idx, 0)) AS first_day_idx      -- 427 = 2025-01-01
  FROM generate_series(1, 22000) AS gs (g)
  CROSS JOIN mix
  CROSS JOIN n_orders
  LEFT JOIN demodb_gen.orders AS o
    ON demodb_gen.rnd(901, gs.g) < 0.6
   AND o.id = 1 + floor(demodb_gen.rnd(902, gs.g) * n_orders.n)::integer
  LEFT JOIN public.customers AS c ON c.id = o.customer_id
  LEFT JOIN demodb_gen.customers AS gc ON gc.id = o.customer_id
)
SELECT s.g,
       'w' || substr(md5('larkspur-session:' || s.g), 1, 15) AS session_id,
       s.customer_id,
       s.country_code,
       demodb_gen.wpick('{mobile,desktop,tablet}'::text[], '{55,38,7}', demodb_gen.rnd(904, s.g)) AS device,
       1 + floor(power(demodb_gen.rnd(905, s.g), 1.8) * 10)::integer AS n_events,
       least(greatest(
               timestamptz '2023-11-01 00:00:00+00'
               + demodb_gen.pick_day(cal.order_cum, s.first_day_idx, 1095, demodb_gen.rnd(906, s.g)) * interval '1 day'
               + demodb_gen.tod(demodb_gen.rnd(907, s.g), demodb_gen.rnd(908, s.g)),
               s.signed_up_at + interval '10 minutes'),
             timestamptz '2026-10-31 23:45:00+00') AS started_at
FROM s
CROSS JOIN cal;

INSERT INTO analytics.events (event_id, occurred_at, session_id, customer_id, event_type, product_id, device, country_code, properties)
WITH slugs AS (
  SELECT array_agg(slug ORDER BY id) AS slugs FROM public.categories
), browse AS (
  SELECT s.session_id, s.customer_id, s.device, s.country_code, step,
         s.g::bigint * 100 + step AS k,
         s.started_at + ((step - 1) * 70 + floor(demodb_gen.rnd(911, s.g::bigint * 100 + step) * 60)) * interval '1 second' AS occurred_at,
         CASE WHEN step = 1 THEN 'page_view'
              ELSE demodb_gen.wpick('{product_view,search,add_to_cart,page_view,checkout_started}'::text[],
                                    '{55,14,12,12,7}', demodb_gen.rnd(912, s.g::bigint * 100 + step))
         END AS event_type
  FROM demodb_gen.sessions AS s
  CROSS JOIN LATERAL generate_series(1, s.n_events) AS step
), browse_p AS (
  SELECT b.*,
         CASE WHEN b.event_type IN ('product_view', 'add_to_cart')
              THEN CASE WHEN p.launched_at <= b.occurred_at AND (p.discontinued_at IS NULL OR p.discontinued_at > b.occurred_at)
                        THEN p.id ELSE fb.id END
         END AS product_id
  FROM browse AS b
  JOIN demodb_gen.products AS p ON p.rank = 1 + floor(200 * power(demodb_gen.rnd(913, b.k), 1.8))::integer
  JOIN demodb_gen.products AS fb ON fb.rank = 1 + floor(30 * demodb_gen.rnd(914, b.k))::integer
), all_events AS (
  SELECT b.occurred_at, b.session_id, b.step, b.customer_id, b.event_type, b.product_id, b.device, b.country_code,
         CASE b.event_type
           WHEN 'page_view' THEN jsonb_strip_nulls(jsonb_build_object(
             'path', demodb_gen.wpick(ARRAY['/', '/c/' || demodb_gen.pick(sl.slugs, demodb_gen.rnd(915, b.k)), '/sale', '/membership', '/account'],
                                      '{40,35,10,8,7}', demodb_gen.rnd(916, b.k)),
             'referrer', CASE WHEN b.step = 1 THEN demodb_gen.wpick('{google,instagram,tiktok,newsletter,bing,pinterest,NULL}'::text[],
                                                                    '{38,12,8,10,5,4,23}', demodb_gen.rnd(917, b.k)) END))
           WHEN 'search' THEN jsonb_build_object(
             'query', demodb_gen.pick('{headphones,earbuds,tent,yoga mat,coffee grinder,espresso,rain jacket,hiking boots,backpack,puzzle,board game,serum,sunscreen,hair dryer,keyboard,usb-c hub,duvet,pillow,gift ideas,sale}'::text[],
                                      demodb_gen.rnd(918, b.k)),
             'results', floor(demodb_gen.rnd(919, b.k) * 60)::integer)
           WHEN 'product_view' THEN jsonb_build_object(
             'price', pr.list_price,
             'position', 1 + floor(demodb_gen.rnd(920, b.k) * 24)::integer)
           WHEN 'add_to_cart' THEN jsonb_build_object(
             'quantity', demodb_gen.wpick('{1,2,3}'::integer[], '{85,12,3}', demodb_gen.rnd(921, b.k)),
             'price', pr.list_price)
           ELSE jsonb_build_object(
             'cart_value', round((20 + power(demodb_gen.rnd(922, b.k), 2) * 480)::numeric, 2),
             'items', 1 + floor(power(demodb_gen.rnd(923, b.k), 2) * 5)::integer)
         END AS properties
  FROM browse_p AS b
  CROSS JOIN slugs AS sl
  LEFT JOIN public.products AS pr ON pr.id = b.product_id
  UNION ALL
  -- every web/app order since 2025 has its own short session: a view of the
  -- first product ordered, add to cart, checkout, purchase
  SELECT o.ordered_at - CASE e.step WHEN 1 THEN floor(900 + demodb_gen.rnd(931, o.id) * 900) * interval '1 second'
                                    WHEN 2 THEN floor(480 + demodb_gen.rnd(931, o.id) * 360) * interval '1 second'
                                    WHEN 3 THEN floor(60 + demodb_gen.rnd(931, o.id) * 360) * interval '1 second'
                                    ELSE interval '0' END,
         'o' || substr(md5('larkspur-order-session:' || o.id), 1, 15),
         e.step, o.customer_id, e.event_type,
         CASE WHEN e.step <= 2 THEN i.product_id END,
         CASE WHEN o.channel = 'web'
              THEN demodb_gen.wpick('{desktop,mobile,tablet}'::text[], '{55,40,5}', demodb_gen.rnd(932, o.id))
              ELSE demodb_gen.wpick('{mobile,tablet}'::text[], '{85,15}', demodb_gen.rnd(932, o.id))
         END,
         o.ship_country_code,
         CASE e.step
           WHEN 1 THEN jsonb_build_object('price', pr.list_price, 'position', 1 + floor(demodb_gen.rnd(933, o.id) * 12)::integer)
           WHEN 2 THEN jsonb_build_object('quantity', i.quantity, 'price', pr.list_price)
           WHEN 3 THEN jsonb_build_object('cart_value', o.total_amount, 'items', o.item_count)
           ELSE jsonb_build_object('order_id', o.id, 'revenue', o.total_amount, 'items', o.item_count)
         END
  FROM public.orders AS o
  JOIN public.order_items AS i ON i.order_id = o.id AND i.line_no = 1
  JOIN public.products AS pr ON pr.id = i.product_id
  CROSS JOIN (VALUES (1, 'product_view'), (2, 'add_to_cart'), (3, 'checkout_started'), (4, 'purchase')) AS e(step, event_type)
  WHERE o.ordered_at >= timestamptz '2025-01-01 00:40:00+00' AND o.channel <> 'marketplace'
)
SELECT row_number() OVER (ORDER BY occurred_at, session_id, step),
       occurred_at, session_id, customer_id, event_type, product_id, device, country_code, properties
FROM all_events
ORDER BY 1;

-- ---------------------------------------------------------------------------
-- Clean up and collect statistics (before the keys: validating foreign keys
-- then gets good plans)
-- ---------------------------------------------------------------------------

DROP SCHEMA demodb_gen CASCADE;

-- 50 most common values per column are plenty here, and sampling half as
-- many rows as the default makes ANALYZE much faster.
SET LOCAL default_statistics_target = 50;
ANALYZE public.countries, public.customers, public.categories, public.products, public.orders,
        public.order_items, public.payments, public.reviews,
        billing.plans, billing.payment_cards, billing.subscriptions, billing.invoices,
        analytics.events;

-- ---------------------------------------------------------------------------
-- Keys, constraints and indexes (after the bulk inserts: faster)
-- ---------------------------------------------------------------------------

ALTER TABLE public.countries      ADD CONSTRAINT countries_pkey PRIMARY KEY (code);
ALTER TABLE public.customers      ADD CONSTRAINT customers_pkey PRIMARY KEY (id),
                                  ADD CONSTRAINT customers_email_key UNIQUE (email);
ALTER TABLE public.categories     ADD CONSTRAINT categories_pkey PRIMARY KEY (id),
                                  ADD CONSTRAINT categories_slug_key UNIQUE (slug);
ALTER TABLE public.products       ADD CONSTRAINT products_pkey PRIMARY KEY (id),
                                  ADD CONSTRAINT products_sku_key UNIQUE (sku);
ALTER TABLE public.orders         ADD CONSTRAINT orders_pkey PRIMARY KEY (id);
ALTER TABLE public.order_items    ADD CONSTRAINT order_items_pkey PRIMARY KEY (order_id, line_no);
ALTER TABLE public.payments       ADD CONSTRAINT payments_pkey PRIMARY KEY (id);
ALTER TABLE public.reviews        ADD CONSTRAINT reviews_pkey PRIMARY KEY (id),
                                  ADD CONSTRAINT reviews_order_line_key UNIQUE (order_id, line_no);
ALTER TABLE billing.plans         ADD CONSTRAINT plans_pkey PRIMARY KEY (id),
                                  ADD CONSTRAINT plans_code_key UNIQUE (code);
ALTER TABLE billing.payment_cards ADD CONSTRAINT payment_cards_pkey PRIMARY KEY (id);
ALTER TABLE billing.subscriptions ADD CONSTRAINT subscriptions_pkey PRIMARY KEY (id),
                                  -- target of the (subscription_id, customer_id) key of invoices
                                  ADD CONSTRAINT subscriptions_id_customer_key UNIQUE (id, customer_id);
ALTER TABLE billing.invoices      ADD CONSTRAINT invoices_pkey PRIMARY KEY (id),
                                  ADD CONSTRAINT invoices_invoice_number_key UNIQUE (invoice_number);
ALTER TABLE analytics.events      ADD CONSTRAINT events_pkey PRIMARY KEY (event_id, occurred_at);

ALTER TABLE public.customers ADD CONSTRAINT customers_country_code_fkey
  FOREIGN KEY (country_code) REFERENCES public.countries (code);
ALTER TABLE public.categories ADD CONSTRAINT categories_parent_id_fkey
  FOREIGN KEY (parent_id) REFERENCES public.categories (id);
ALTER TABLE public.products ADD CONSTRAINT products_category_id_fkey
  FOREIGN KEY (category_id) REFERENCES public.categories (id);
ALTER TABLE public.orders ADD CONSTRAINT orders_customer_id_fkey
  FOREIGN KEY (customer_id) REFERENCES public.customers (id),
  ADD CONSTRAINT orders_ship_country_code_fkey
  FOREIGN KEY (ship_country_code) REFERENCES public.countries (code);
ALTER TABLE public.order_items ADD CONSTRAINT order_items_order_id_fkey
  FOREIGN KEY (order_id) REFERENCES public.orders (id),
  ADD CONSTRAINT order_items_product_id_fkey
  FOREIGN KEY (product_id) REFERENCES public.products (id);
ALTER TABLE public.payments ADD CONSTRAINT payments_order_id_fkey
  FOREIGN KEY (order_id) REFERENCES public.orders (id);
ALTER TABLE public.reviews ADD CONSTRAINT reviews_order_line_fkey
  FOREIGN KEY (order_id, line_no) REFERENCES public.order_items (order_id, line_no),
  ADD CONSTRAINT reviews_product_id_fkey
  FOREIGN KEY (product_id) REFERENCES public.products (id),
  ADD CONSTRAINT reviews_customer_id_fkey
  FOREIGN KEY (customer_id) REFERENCES public.customers (id);
ALTER TABLE billing.payment_cards ADD CONSTRAINT payment_cards_customer_id_fkey
  FOREIGN KEY (customer_id) REFERENCES public.customers (id);
ALTER TABLE billing.subscriptions ADD CONSTRAINT subscriptions_customer_id_fkey
  FOREIGN KEY (customer_id) REFERENCES public.customers (id),
  ADD CONSTRAINT subscriptions_plan_id_fkey
  FOREIGN KEY (plan_id) REFERENCES billing.plans (id),
  ADD CONSTRAINT subscriptions_payment_card_id_fkey
  FOREIGN KEY (payment_card_id) REFERENCES billing.payment_cards (id);
ALTER TABLE billing.invoices ADD CONSTRAINT invoices_subscription_fkey
  FOREIGN KEY (subscription_id, customer_id) REFERENCES billing.subscriptions (id, customer_id),
  ADD CONSTRAINT invoices_customer_id_fkey
  FOREIGN KEY (customer_id) REFERENCES public.customers (id);
ALTER TABLE analytics.events ADD CONSTRAINT events_customer_id_fkey
  FOREIGN KEY (customer_id) REFERENCES public.customers (id),
  ADD CONSTRAINT events_product_id_fkey
  FOREIGN KEY (product_id) REFERENCES public.products (id),
  ADD CONSTRAINT events_country_code_fkey
  FOREIGN KEY (country_code) REFERENCES public.countries (code);

CREATE INDEX customers_country_code_idx ON public.customers (country_code);
CREATE INDEX customers_signed_up_at_idx ON public.customers (signed_up_at);
CREATE INDEX products_category_id_idx ON public.products (category_id);
CREATE INDEX products_tags_idx ON public.products USING gin (tags);
CREATE INDEX orders_customer_id_idx ON public.orders (customer_id);
CREATE INDEX orders_ordered_at_idx ON public.orders (ordered_at);
CREATE INDEX order_items_product_id_idx ON public.order_items (product_id);
CREATE INDEX payments_order_id_idx ON public.payments (order_id);
CREATE INDEX reviews_product_id_idx ON public.reviews (product_id);
CREATE INDEX reviews_customer_id_idx ON public.reviews (customer_id);
CREATE INDEX payment_cards_customer_id_idx ON billing.payment_cards (customer_id);
CREATE INDEX subscriptions_customer_id_idx ON billing.subscriptions (customer_id);
CREATE INDEX subscriptions_plan_id_idx ON billing.subscriptions (plan_id);
CREATE INDEX invoices_subscription_id_idx ON billing.invoices (subscription_id);
CREATE INDEX invoices_issued_at_idx ON billing.invoices (issued_at);
CREATE INDEX events_customer_id_idx ON analytics.events (customer_id);
CREATE INDEX events_type_occurred_at_idx ON analytics.events (event_type, occurred_at);
