-- want: lexer_differential
-- With standard_conforming_strings=off the server would end the string after 'a\'' and run pg_read_file.
SELECT 'a\'' , pg_read_file($$/etc/hostname$$) AS leak --'
