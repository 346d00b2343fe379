-- want: accept
/* monthly report
   /* nested: DROP TABLE orders; */
   still a comment; DELETE FROM payments;
*/
SELECT date_trunc('month', order_date) AS month,
       count(*) AS orders,
       sum(total_amount) AS revenue
FROM orders
GROUP BY 1
ORDER BY 1;
-- trailing comment after the semicolon
