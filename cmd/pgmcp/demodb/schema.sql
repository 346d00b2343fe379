-- pgmcp demo database: schema (DDL only).
--
-- Larkspur is a fictional online retailer of home, outdoor, electronics and
-- lifestyle goods that also sells a paid membership ("Larkspur Plus"):
--
--   public     the shop: countries, customers, categories, products, orders,
--              order_items, payments, reviews; view monthly_revenue.
--   billing    the membership business: plans, subscriptions, invoices,
--              payment_cards (sensitive); view monthly_recurring_revenue.
--   analytics  clickstream events, partitioned by year.
--
-- Everything is written for this project; no sample database was copied.
-- Primary keys, foreign keys and secondary indexes are added by data.sql
-- after the bulk inserts (faster); the tables here carry only NOT NULL,
-- CHECK, DEFAULT and generated-column definitions. All money amounts are in
-- US dollars. All timestamps are timestamptz (stored as UTC instants).

CREATE SCHEMA billing;
CREATE SCHEMA analytics;

COMMENT ON SCHEMA billing IS 'Larkspur Plus membership business: plans, subscriptions, invoices and stored payment cards.';
COMMENT ON SCHEMA analytics IS 'Website and app clickstream events.';

-- ---------------------------------------------------------------------------
-- Types
-- ---------------------------------------------------------------------------

CREATE TYPE public.order_status AS ENUM
  ('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded');
COMMENT ON TYPE public.order_status IS
  'Lifecycle of an order: pending (placed, not paid yet), paid (payment captured, not shipped), shipped (handed to the carrier), delivered (received by the customer), cancelled (cancelled before shipping; any payment was refunded), refunded (delivered, then returned and fully refunded).';

CREATE TYPE public.payment_method AS ENUM
  ('card', 'paypal', 'apple_pay', 'google_pay', 'gift_card');
COMMENT ON TYPE public.payment_method IS 'How a payment was made.';

CREATE TYPE public.payment_status AS ENUM ('captured', 'failed', 'refunded');
COMMENT ON TYPE public.payment_status IS
  'captured = money taken from the customer; failed = declined attempt, no money moved; refunded = money given back to the customer (a separate row from the capture it reverses).';

CREATE TYPE billing.billing_interval AS ENUM ('month', 'year');
COMMENT ON TYPE billing.billing_interval IS 'How often a plan is billed.';

CREATE TYPE billing.subscription_status AS ENUM ('trialing', 'active', 'past_due', 'canceled');
COMMENT ON TYPE billing.subscription_status IS
  'trialing = in the free trial, not billed yet; active = paying and paid up; past_due = paying but the latest invoice is unpaid; canceled = ended (see canceled_at and cancel_reason).';

CREATE TYPE billing.invoice_status AS ENUM ('open', 'paid', 'uncollectible');
COMMENT ON TYPE billing.invoice_status IS
  'open = issued and awaiting payment; paid = settled; uncollectible = payment failed for good and the amount was written off.';

-- ---------------------------------------------------------------------------
-- public: the shop
-- ---------------------------------------------------------------------------

CREATE TABLE public.countries (
  code        char(2) NOT NULL,
  name        text    NOT NULL,
  region      text    NOT NULL,
  calling_code text   NOT NULL
);
COMMENT ON TABLE public.countries IS
  'Countries Larkspur sells to (ISO 3166-1). Join customers.country_code or orders.ship_country_code to code.';
COMMENT ON COLUMN public.countries.code IS 'ISO 3166-1 alpha-2 country code, e.g. US, GB, DE. Primary key.';
COMMENT ON COLUMN public.countries.name IS 'English country name.';
COMMENT ON COLUMN public.countries.region IS 'Sales region: North America, Europe, Asia Pacific or Latin America.';
COMMENT ON COLUMN public.countries.calling_code IS 'International telephone prefix, e.g. +44.';

CREATE TABLE public.customers (
  id                  integer     NOT NULL,
  email               text        NOT NULL,
  first_name          text        NOT NULL,
  last_name           text        NOT NULL,
  phone               text,
  date_of_birth       date,
  country_code        char(2)     NOT NULL,
  city                text        NOT NULL,
  segment             text        NOT NULL CHECK (segment IN ('consumer', 'business')),
  acquisition_channel text        NOT NULL,
  marketing_opt_in    boolean     NOT NULL,
  signed_up_at        timestamptz NOT NULL,
  preferences         jsonb       NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE public.customers IS
  'One row per registered customer account (shop and membership share accounts). Customers sign up between 2023-11-01 and 2026-10-31. phone and date_of_birth are personal data and are not readable by analysts.';
COMMENT ON COLUMN public.customers.id IS 'Customer id. Primary key; ids increase with signed_up_at.';
COMMENT ON COLUMN public.customers.email IS 'Login e-mail address (unique, lower case). Fictional domains.';
COMMENT ON COLUMN public.customers.first_name IS 'Given name.';
COMMENT ON COLUMN public.customers.last_name IS 'Family name.';
COMMENT ON COLUMN public.customers.phone IS 'Phone number in international format. Personal data (restricted).';
COMMENT ON COLUMN public.customers.date_of_birth IS 'Date of birth. Personal data (restricted).';
COMMENT ON COLUMN public.customers.country_code IS 'Country of the customer''s default address; references countries(code).';
COMMENT ON COLUMN public.customers.city IS 'City of the customer''s default address.';
COMMENT ON COLUMN public.customers.segment IS 'consumer (private person) or business (company account, buys larger quantities).';
COMMENT ON COLUMN public.customers.acquisition_channel IS 'Marketing channel of the signup: organic_search, paid_search, social, referral, email, affiliate or direct.';
COMMENT ON COLUMN public.customers.marketing_opt_in IS 'True if the customer agreed to receive marketing e-mails.';
COMMENT ON COLUMN public.customers.signed_up_at IS 'When the account was created.';
COMMENT ON COLUMN public.customers.preferences IS 'Account preferences as JSON: {"language": "en", "newsletter_topics": [...], "dark_mode": bool}.';

CREATE TABLE public.categories (
  id        integer NOT NULL,
  parent_id integer,
  name      text    NOT NULL,
  slug      text    NOT NULL
);
COMMENT ON TABLE public.categories IS
  'Product category tree, two levels: 6 top-level departments (parent_id NULL) and their subcategories. Products belong to subcategories only.';
COMMENT ON COLUMN public.categories.id IS 'Category id. Primary key.';
COMMENT ON COLUMN public.categories.parent_id IS 'Parent department (categories.id); NULL for a top-level department.';
COMMENT ON COLUMN public.categories.name IS 'Display name, e.g. "Coffee & Tea".';
COMMENT ON COLUMN public.categories.slug IS 'URL slug, unique, e.g. "coffee-tea".';

CREATE TABLE public.products (
  id          integer       NOT NULL,
  sku         text          NOT NULL,
  name        text          NOT NULL,
  category_id integer       NOT NULL,
  brand       text          NOT NULL,
  list_price  numeric(10,2) NOT NULL CHECK (list_price > 0),
  unit_cost   numeric(10,2) NOT NULL CHECK (unit_cost > 0),
  attributes  jsonb         NOT NULL DEFAULT '{}',
  tags        text[]        NOT NULL DEFAULT '{}',
  launched_at timestamptz   NOT NULL,
  is_active   boolean       NOT NULL DEFAULT true
);
COMMENT ON TABLE public.products IS
  'Product catalog (200 products). Prices in USD, tax included. Popularity is very uneven: a few products sell most units.';
COMMENT ON COLUMN public.products.id IS 'Product id. Primary key.';
COMMENT ON COLUMN public.products.sku IS 'Stock keeping unit, unique, e.g. "ELE-AUD-0042".';
COMMENT ON COLUMN public.products.name IS 'Product name as shown in the shop (brand, model line and product type).';
COMMENT ON COLUMN public.products.category_id IS 'Subcategory (categories.id, never a top-level department).';
COMMENT ON COLUMN public.products.brand IS 'Brand name.';
COMMENT ON COLUMN public.products.list_price IS 'Current list price per unit in USD, tax included. Historical order lines may have been sold at a lower price (see order_items.unit_price).';
COMMENT ON COLUMN public.products.unit_cost IS 'Current purchase cost per unit in USD (for margin analysis: list_price - unit_cost).';
COMMENT ON COLUMN public.products.attributes IS 'Product attributes as JSON; keys depend on the department, e.g. {"color": "black", "weight_g": 250, "warranty_months": 24} for electronics, {"material": "cotton", "sizes": ["S","M","L"]} for apparel.';
COMMENT ON COLUMN public.products.tags IS 'Merchandising tags, e.g. {bestseller, eco, new, gift-idea}.';
COMMENT ON COLUMN public.products.launched_at IS 'When the product went on sale; it has no orders before this.';
COMMENT ON COLUMN public.products.is_active IS 'False if the product is discontinued (no longer sold; past orders remain).';

CREATE TABLE public.orders (
  id                integer        NOT NULL,
  customer_id       integer        NOT NULL,
  status            public.order_status NOT NULL,
  channel           text           NOT NULL,
  ordered_at        timestamptz    NOT NULL,
  shipped_at        timestamptz,
  delivered_at      timestamptz,
  cancelled_at      timestamptz,
  ship_country_code char(2)        NOT NULL,
  ship_city         text           NOT NULL,
  coupon_code       text,
  item_count        integer        NOT NULL CHECK (item_count > 0),
  total_amount      numeric(12,2)  NOT NULL CHECK (total_amount >= 0)
);
COMMENT ON TABLE public.orders IS
  'One row per shop order (~40,000, from 2023-11-01 to 2026-10-31). total_amount is the sum of order_items.line_total; shipping is free and prices include tax. For revenue, count orders whose status is paid, shipped or delivered (cancelled and refunded orders were paid back).';
COMMENT ON COLUMN public.orders.id IS 'Order id. Primary key; ids increase with ordered_at.';
COMMENT ON COLUMN public.orders.customer_id IS 'Customer who placed the order (customers.id).';
COMMENT ON COLUMN public.orders.status IS 'Current status: pending, paid, shipped, delivered, cancelled or refunded (see type order_status).';
COMMENT ON COLUMN public.orders.channel IS 'Where the order was placed: web, ios_app, android_app or marketplace.';
COMMENT ON COLUMN public.orders.ordered_at IS 'When the order was placed.';
COMMENT ON COLUMN public.orders.shipped_at IS 'When the parcel left the warehouse; NULL if not shipped (pending, paid, cancelled).';
COMMENT ON COLUMN public.orders.delivered_at IS 'When the parcel was delivered; NULL if not delivered yet or never shipped.';
COMMENT ON COLUMN public.orders.cancelled_at IS 'When the order was cancelled; NULL unless status = cancelled.';
COMMENT ON COLUMN public.orders.ship_country_code IS 'Destination country (countries.code).';
COMMENT ON COLUMN public.orders.ship_city IS 'Destination city.';
COMMENT ON COLUMN public.orders.coupon_code IS 'Coupon applied to the order, e.g. WELCOME10 or BLACKFRIDAY2025; NULL if none. The discount is in order_items.discount_amount.';
COMMENT ON COLUMN public.orders.item_count IS 'Number of units in the order (sum of order_items.quantity).';
COMMENT ON COLUMN public.orders.total_amount IS 'Amount charged in USD after discounts, tax included = sum(order_items.line_total).';

CREATE TABLE public.order_items (
  order_id        integer       NOT NULL,
  line_no         smallint      NOT NULL CHECK (line_no > 0),
  product_id      integer       NOT NULL,
  quantity        integer       NOT NULL CHECK (quantity > 0),
  unit_price      numeric(10,2) NOT NULL CHECK (unit_price > 0),
  discount_amount numeric(10,2) NOT NULL DEFAULT 0 CHECK (discount_amount >= 0),
  line_total      numeric(12,2) NOT NULL GENERATED ALWAYS AS (quantity * unit_price - discount_amount) STORED
);
COMMENT ON TABLE public.order_items IS
  'Order lines: one row per product in an order. Primary key (order_id, line_no). Revenue per product = sum(line_total).';
COMMENT ON COLUMN public.order_items.order_id IS 'Order (orders.id).';
COMMENT ON COLUMN public.order_items.line_no IS 'Line number within the order, 1, 2, 3...';
COMMENT ON COLUMN public.order_items.product_id IS 'Product sold (products.id).';
COMMENT ON COLUMN public.order_items.quantity IS 'Units sold on this line.';
COMMENT ON COLUMN public.order_items.unit_price IS 'Price per unit in USD at the time of the order, before discount, tax included.';
COMMENT ON COLUMN public.order_items.discount_amount IS 'Total discount on this line in USD (coupon or promotion), already deducted from line_total.';
COMMENT ON COLUMN public.order_items.line_total IS 'Amount charged for the line in USD = quantity * unit_price - discount_amount (generated).';

CREATE TABLE public.payments (
  id           integer        NOT NULL,
  order_id     integer        NOT NULL,
  method       public.payment_method NOT NULL,
  status       public.payment_status NOT NULL,
  amount       numeric(12,2)  NOT NULL CHECK (amount >= 0),
  processed_at timestamptz    NOT NULL,
  provider     text           NOT NULL
);
COMMENT ON TABLE public.payments IS
  'Payment transactions of shop orders. Every non-pending order has one captured payment equal to its total_amount; cancelled and refunded orders also have a refunded row with the same amount; a few orders have a failed attempt first. Net cash = sum(captured) - sum(refunded).';
COMMENT ON COLUMN public.payments.id IS 'Payment transaction id. Primary key.';
COMMENT ON COLUMN public.payments.order_id IS 'Order paid (orders.id).';
COMMENT ON COLUMN public.payments.method IS 'card, paypal, apple_pay, google_pay or gift_card.';
COMMENT ON COLUMN public.payments.status IS 'captured (money in), failed (declined, no money moved) or refunded (money back out).';
COMMENT ON COLUMN public.payments.amount IS 'Amount in USD, always positive; the direction is given by status.';
COMMENT ON COLUMN public.payments.processed_at IS 'When the payment provider processed the transaction.';
COMMENT ON COLUMN public.payments.provider IS 'Payment service provider: stripe, adyen, paypal or giftcard (internal).';

CREATE TABLE public.reviews (
  id            integer     NOT NULL,
  order_id      integer     NOT NULL,
  line_no       smallint    NOT NULL,
  product_id    integer     NOT NULL,
  customer_id   integer     NOT NULL,
  rating        smallint    NOT NULL CHECK (rating BETWEEN 1 AND 5),
  title         text        NOT NULL,
  body          text,
  helpful_votes integer     NOT NULL DEFAULT 0,
  created_at    timestamptz NOT NULL
);
COMMENT ON TABLE public.reviews IS
  'Product reviews written by customers after delivery; at most one per order line ((order_id, line_no) references order_items).';
COMMENT ON COLUMN public.reviews.id IS 'Review id. Primary key.';
COMMENT ON COLUMN public.reviews.order_id IS 'Order of the reviewed purchase; with line_no references order_items.';
COMMENT ON COLUMN public.reviews.line_no IS 'Order line of the reviewed purchase.';
COMMENT ON COLUMN public.reviews.product_id IS 'Product reviewed (products.id); same as the order line''s product.';
COMMENT ON COLUMN public.reviews.customer_id IS 'Reviewer (customers.id); same as the order''s customer.';
COMMENT ON COLUMN public.reviews.rating IS 'Star rating, 1 (worst) to 5 (best).';
COMMENT ON COLUMN public.reviews.title IS 'Short headline of the review.';
COMMENT ON COLUMN public.reviews.body IS 'Review text; NULL if the customer left only a rating and title.';
COMMENT ON COLUMN public.reviews.helpful_votes IS 'How many shoppers marked the review as helpful.';
COMMENT ON COLUMN public.reviews.created_at IS 'When the review was posted.';

-- ---------------------------------------------------------------------------
-- billing: Larkspur Plus membership
-- ---------------------------------------------------------------------------

CREATE TABLE billing.plans (
  id               smallint      NOT NULL,
  code             text          NOT NULL,
  name             text          NOT NULL,
  tier             text          NOT NULL,
  billing_interval billing.billing_interval NOT NULL,
  price            numeric(8,2)  NOT NULL CHECK (price > 0),
  trial_days       integer       NOT NULL DEFAULT 0,
  features         jsonb         NOT NULL DEFAULT '{}',
  is_public        boolean       NOT NULL DEFAULT true,
  available_from   date          NOT NULL,
  retired_at       date
);
COMMENT ON TABLE billing.plans IS
  'Membership plans. Price is per billing interval; monthly-equivalent price = price for monthly plans and price / 12 for yearly plans.';
COMMENT ON COLUMN billing.plans.id IS 'Plan id. Primary key.';
COMMENT ON COLUMN billing.plans.code IS 'Stable plan code, unique, e.g. plus_monthly.';
COMMENT ON COLUMN billing.plans.name IS 'Marketing name, e.g. "Plus (annual)".';
COMMENT ON COLUMN billing.plans.tier IS 'Product tier: Plus, Premier or Business.';
COMMENT ON COLUMN billing.plans.billing_interval IS 'month or year.';
COMMENT ON COLUMN billing.plans.price IS 'Price per billing interval in USD.';
COMMENT ON COLUMN billing.plans.trial_days IS 'Length of the free trial in days (0 = no trial).';
COMMENT ON COLUMN billing.plans.features IS 'Plan benefits as JSON, e.g. {"free_shipping": true, "member_discount_pct": 5, "returns_days": 60}.';
COMMENT ON COLUMN billing.plans.is_public IS 'False for plans no longer offered to new members (grandfathered).';
COMMENT ON COLUMN billing.plans.available_from IS 'First day the plan could be bought.';
COMMENT ON COLUMN billing.plans.retired_at IS 'Day the plan stopped being sold to new members; existing subscriptions continue. NULL if still sold.';

CREATE TABLE billing.payment_cards (
  id                  integer     NOT NULL,
  customer_id         integer     NOT NULL,
  brand               text        NOT NULL,
  last4               char(4)     NOT NULL,
  exp_month           smallint    NOT NULL CHECK (exp_month BETWEEN 1 AND 12),
  exp_year            smallint    NOT NULL,
  fingerprint         text        NOT NULL,
  cardholder_name     text        NOT NULL,
  billing_postal_code text        NOT NULL,
  is_default          boolean     NOT NULL,
  created_at          timestamptz NOT NULL
);
COMMENT ON TABLE billing.payment_cards IS
  'Stored payment cards of members (tokenised; card data is sensitive and not readable by analysts).';
COMMENT ON COLUMN billing.payment_cards.id IS 'Card id. Primary key.';
COMMENT ON COLUMN billing.payment_cards.customer_id IS 'Card owner (customers.id).';
COMMENT ON COLUMN billing.payment_cards.brand IS 'Card network: visa, mastercard or amex.';
COMMENT ON COLUMN billing.payment_cards.last4 IS 'Last four digits of the card number.';
COMMENT ON COLUMN billing.payment_cards.exp_month IS 'Expiry month, 1-12.';
COMMENT ON COLUMN billing.payment_cards.exp_year IS 'Expiry year, four digits.';
COMMENT ON COLUMN billing.payment_cards.fingerprint IS 'Provider fingerprint identifying the card number (hex).';
COMMENT ON COLUMN billing.payment_cards.cardholder_name IS 'Name printed on the card.';
COMMENT ON COLUMN billing.payment_cards.billing_postal_code IS 'Postal code of the billing address.';
COMMENT ON COLUMN billing.payment_cards.is_default IS 'True for the customer''s default card.';
COMMENT ON COLUMN billing.payment_cards.created_at IS 'When the card was saved.';

CREATE TABLE billing.subscriptions (
  id                   integer     NOT NULL,
  customer_id          integer     NOT NULL,
  plan_id              smallint    NOT NULL,
  payment_card_id      integer,
  status               billing.subscription_status NOT NULL,
  started_at           timestamptz NOT NULL,
  trial_ends_at        timestamptz,
  current_period_start timestamptz,
  current_period_end   timestamptz,
  canceled_at          timestamptz,
  cancel_reason        text
);
COMMENT ON TABLE billing.subscriptions IS
  'Membership subscriptions: one row per subscription (a customer who cancels and later re-subscribes has two). Churned = status canceled; the month of churn is date_trunc(''month'', canceled_at).';
COMMENT ON COLUMN billing.subscriptions.id IS 'Subscription id. Primary key.';
COMMENT ON COLUMN billing.subscriptions.customer_id IS 'Member (customers.id).';
COMMENT ON COLUMN billing.subscriptions.plan_id IS 'Plan subscribed to (plans.id).';
COMMENT ON COLUMN billing.subscriptions.payment_card_id IS 'Card charged for this subscription (billing.payment_cards.id, a restricted table).';
COMMENT ON COLUMN billing.subscriptions.status IS 'trialing, active, past_due or canceled (see type subscription_status), as of 2026-10-31.';
COMMENT ON COLUMN billing.subscriptions.started_at IS 'When the subscription (including its trial) started.';
COMMENT ON COLUMN billing.subscriptions.trial_ends_at IS 'End of the free trial; billing starts then. NULL for plans without a trial.';
COMMENT ON COLUMN billing.subscriptions.current_period_start IS 'Start of the billing period in progress; NULL if canceled or still trialing.';
COMMENT ON COLUMN billing.subscriptions.current_period_end IS 'End of the billing period in progress (next renewal); NULL if canceled or still trialing.';
COMMENT ON COLUMN billing.subscriptions.canceled_at IS 'When the subscription ended; NULL unless status = canceled.';
COMMENT ON COLUMN billing.subscriptions.cancel_reason IS 'Why it ended: trial_not_converted, too_expensive, not_using_benefits, switched_to_competitor, payment_failed or other. NULL unless canceled.';

CREATE TABLE billing.invoices (
  id              integer       NOT NULL,
  invoice_number  text          NOT NULL,
  subscription_id integer       NOT NULL,
  customer_id     integer       NOT NULL,
  period_start    timestamptz   NOT NULL,
  period_end      timestamptz   NOT NULL,
  issued_at       timestamptz   NOT NULL,
  due_at          timestamptz   NOT NULL,
  paid_at         timestamptz,
  status          billing.invoice_status NOT NULL,
  subtotal        numeric(10,2) NOT NULL,
  discount_amount numeric(10,2) NOT NULL DEFAULT 0,
  amount_due      numeric(10,2) NOT NULL GENERATED ALWAYS AS (subtotal - discount_amount) STORED,
  amount_paid     numeric(10,2) NOT NULL DEFAULT 0,
  CHECK (period_end > period_start)
);
COMMENT ON TABLE billing.invoices IS
  'Membership invoices, one per subscription billing period (monthly or yearly). Recognised membership revenue = sum(amount_paid) of paid invoices.';
COMMENT ON COLUMN billing.invoices.id IS 'Invoice id. Primary key; ids increase with issued_at.';
COMMENT ON COLUMN billing.invoices.invoice_number IS 'Human-readable invoice number, unique, e.g. LP-2025-004211.';
COMMENT ON COLUMN billing.invoices.subscription_id IS 'Subscription billed; (subscription_id, customer_id) references subscriptions(id, customer_id).';
COMMENT ON COLUMN billing.invoices.customer_id IS 'Member billed (customers.id); always the subscription''s customer.';
COMMENT ON COLUMN billing.invoices.period_start IS 'Start of the billed period (inclusive).';
COMMENT ON COLUMN billing.invoices.period_end IS 'End of the billed period (exclusive).';
COMMENT ON COLUMN billing.invoices.issued_at IS 'When the invoice was issued (= period_start).';
COMMENT ON COLUMN billing.invoices.due_at IS 'Payment due date (issued_at + 7 days).';
COMMENT ON COLUMN billing.invoices.paid_at IS 'When it was paid; NULL if open or uncollectible.';
COMMENT ON COLUMN billing.invoices.status IS 'open, paid or uncollectible.';
COMMENT ON COLUMN billing.invoices.subtotal IS 'Plan price for the period in USD.';
COMMENT ON COLUMN billing.invoices.discount_amount IS 'Promotional discount in USD (e.g. 50% off the first period).';
COMMENT ON COLUMN billing.invoices.amount_due IS 'subtotal - discount_amount, in USD (generated).';
COMMENT ON COLUMN billing.invoices.amount_paid IS 'Amount collected in USD: amount_due if paid, else 0.';

-- ---------------------------------------------------------------------------
-- analytics: clickstream, partitioned by year of occurred_at
-- ---------------------------------------------------------------------------

CREATE TABLE analytics.events (
  event_id     bigint      NOT NULL,
  occurred_at  timestamptz NOT NULL,
  session_id   text        NOT NULL,
  customer_id  integer,
  event_type   text        NOT NULL CHECK (event_type IN
                 ('page_view', 'search', 'product_view', 'add_to_cart', 'checkout_started', 'purchase')),
  product_id   integer,
  device       text        NOT NULL CHECK (device IN ('desktop', 'mobile', 'tablet')),
  country_code char(2)     NOT NULL,
  properties   jsonb       NOT NULL DEFAULT '{}'
) PARTITION BY RANGE (occurred_at);
COMMENT ON TABLE analytics.events IS
  'Website and app clickstream since 2025-01-01, partitioned by year (events_2025, events_2026); query this parent table. One row per tracked event; a session is a sequence of events with the same session_id.';
COMMENT ON COLUMN analytics.events.event_id IS 'Event id; with occurred_at the primary key.';
COMMENT ON COLUMN analytics.events.occurred_at IS 'When the event happened (partition key).';
COMMENT ON COLUMN analytics.events.session_id IS 'Browsing session identifier (opaque text).';
COMMENT ON COLUMN analytics.events.customer_id IS 'Logged-in customer (customers.id); NULL for anonymous visitors.';
COMMENT ON COLUMN analytics.events.event_type IS 'page_view, search, product_view, add_to_cart, checkout_started or purchase (funnel order: product_view -> add_to_cart -> checkout_started -> purchase).';
COMMENT ON COLUMN analytics.events.product_id IS 'Product concerned (products.id) for product_view and add_to_cart; NULL otherwise.';
COMMENT ON COLUMN analytics.events.device IS 'desktop, mobile or tablet.';
COMMENT ON COLUMN analytics.events.country_code IS 'Visitor country from IP geolocation (countries.code).';
COMMENT ON COLUMN analytics.events.properties IS 'Event details as JSON. page_view: {"path", "referrer"}; search: {"query", "results"}; product_view: {"price", "position"}; add_to_cart: {"quantity", "price"}; checkout_started: {"cart_value", "items"}; purchase: {"order_id", "revenue", "items"} (order_id is orders.id, revenue in USD).';

CREATE TABLE analytics.events_2025 PARTITION OF analytics.events
  FOR VALUES FROM ('2025-01-01 00:00:00+00') TO ('2026-01-01 00:00:00+00');
CREATE TABLE analytics.events_2026 PARTITION OF analytics.events
  FOR VALUES FROM ('2026-01-01 00:00:00+00') TO ('2027-01-01 00:00:00+00');
COMMENT ON TABLE analytics.events_2025 IS 'Partition of analytics.events for 2025 (UTC). Query analytics.events instead.';
COMMENT ON TABLE analytics.events_2026 IS 'Partition of analytics.events for 2026 (UTC). Query analytics.events instead.';

-- ---------------------------------------------------------------------------
-- Views
-- ---------------------------------------------------------------------------

CREATE VIEW public.monthly_revenue AS
SELECT date_trunc('month', o.ordered_at AT TIME ZONE 'UTC')::date AS month,
       count(*) AS orders_placed,
       count(*) FILTER (WHERE o.status IN ('paid', 'shipped', 'delivered')) AS orders_kept,
       count(DISTINCT o.customer_id) FILTER (WHERE o.status IN ('paid', 'shipped', 'delivered')) AS buying_customers,
       coalesce(sum(o.total_amount) FILTER (WHERE o.status IN ('paid', 'shipped', 'delivered')), 0) AS revenue,
       round(avg(o.total_amount) FILTER (WHERE o.status IN ('paid', 'shipped', 'delivered')), 2) AS avg_order_value,
       coalesce(sum(o.total_amount) FILTER (WHERE o.status IN ('cancelled', 'refunded')), 0) AS cancelled_or_refunded_amount
FROM public.orders AS o
GROUP BY 1;
COMMENT ON VIEW public.monthly_revenue IS
  'Shop revenue per calendar month (UTC) of the order date. Revenue counts orders with status paid, shipped or delivered; cancelled and refunded orders are reported separately. One row per month, 2023-11 to 2026-10.';
COMMENT ON COLUMN public.monthly_revenue.month IS 'First day of the month (UTC).';
COMMENT ON COLUMN public.monthly_revenue.orders_placed IS 'All orders placed in the month, any status.';
COMMENT ON COLUMN public.monthly_revenue.orders_kept IS 'Orders with status paid, shipped or delivered.';
COMMENT ON COLUMN public.monthly_revenue.buying_customers IS 'Distinct customers with at least one kept order.';
COMMENT ON COLUMN public.monthly_revenue.revenue IS 'Sum of total_amount of kept orders, USD.';
COMMENT ON COLUMN public.monthly_revenue.avg_order_value IS 'Average total_amount of kept orders, USD.';
COMMENT ON COLUMN public.monthly_revenue.cancelled_or_refunded_amount IS 'Sum of total_amount of cancelled or refunded orders placed in the month, USD.';

CREATE VIEW billing.monthly_recurring_revenue AS
WITH months AS (
  SELECT m::date AS month,
         m AT TIME ZONE 'UTC' AS month_start,
         (m + interval '1 month') AT TIME ZONE 'UTC' AS month_end
  FROM generate_series(timestamp '2023-11-01', timestamp '2026-10-01', interval '1 month') AS m
)
SELECT mo.month,
       count(s.id) FILTER (WHERE coalesce(s.trial_ends_at, s.started_at) < mo.month_end
                             AND (s.canceled_at IS NULL OR s.canceled_at >= mo.month_end)) AS paying_subscriptions,
       coalesce(sum(CASE p.billing_interval WHEN 'year' THEN round(p.price / 12, 2) ELSE p.price END)
                  FILTER (WHERE coalesce(s.trial_ends_at, s.started_at) < mo.month_end
                            AND (s.canceled_at IS NULL OR s.canceled_at >= mo.month_end)), 0) AS mrr,
       count(s.id) FILTER (WHERE s.started_at >= mo.month_start) AS new_subscriptions,
       count(s.id) FILTER (WHERE s.canceled_at < mo.month_end) AS canceled_subscriptions
FROM months AS mo
LEFT JOIN billing.subscriptions AS s
       ON s.started_at < mo.month_end
      AND (s.canceled_at IS NULL OR s.canceled_at >= mo.month_start)
LEFT JOIN billing.plans AS p ON p.id = s.plan_id
GROUP BY mo.month;
COMMENT ON VIEW billing.monthly_recurring_revenue IS
  'Membership KPIs per calendar month (UTC), 2023-11 to 2026-10: paying subscriptions and monthly recurring revenue at month end, new and canceled subscriptions during the month (canceled includes trials that did not convert).';
COMMENT ON COLUMN billing.monthly_recurring_revenue.month IS 'First day of the month (UTC).';
COMMENT ON COLUMN billing.monthly_recurring_revenue.paying_subscriptions IS 'Subscriptions past their trial and not canceled at the end of the month.';
COMMENT ON COLUMN billing.monthly_recurring_revenue.mrr IS 'Monthly recurring revenue at the end of the month in USD: monthly plan prices plus yearly plan prices / 12, at list price (before discounts).';
COMMENT ON COLUMN billing.monthly_recurring_revenue.new_subscriptions IS 'Subscriptions started during the month (including trials).';
COMMENT ON COLUMN billing.monthly_recurring_revenue.canceled_subscriptions IS 'Subscriptions that ended during the month.';
