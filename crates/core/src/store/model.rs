//! The store's records, in the shape of the tau2-retail `db.json` (the shape agents, exports and
//! imports share). Optional order fields that are unset are left out when serialised.

use crate::money::Cents;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// An item's options, such as `{"color": "blue", "size": "M"}`, in the catalog's order.
pub type Options = IndexMap<String, String>;

/// A type of product and its variant items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// The product's name, such as "T-Shirt".
    pub name: String,
    /// The product id (10 digits; unrelated to item ids).
    pub product_id: String,
    /// The variant items, by item id.
    pub variants: IndexMap<String, Variant>,
}

/// One purchasable variant of a product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// The item id (10 digits).
    pub item_id: String,
    /// The option values that tell this variant from its siblings.
    pub options: Options,
    /// Whether it can be ordered now.
    pub available: bool,
    /// Its price.
    pub price: Cents,
    /// Units on hand, when the merchant keeps count (`clerk catalog set-item --stock`,
    /// `clerk import stock`); not shown to shoppers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock: Option<i64>,
    /// Days from ordering more from the supplier to having it on hand, when known; not shown
    /// to shoppers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_time_days: Option<i64>,
}

impl Variant {
    /// The variant as a shopper may see it: without the merchant's stock count and lead time.
    pub fn public(mut self) -> Variant {
        self.stock = None;
        self.lead_time_days = None;
        self
    }
}

impl Product {
    /// The product as a shopper may see it ([`Variant::public`]).
    pub fn public(mut self) -> Product {
        self.variants = self
            .variants
            .into_iter()
            .map(|(id, variant)| (id, variant.public()))
            .collect();
        self
    }
}

/// A postal address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// First line, such as "123 Main St".
    pub address1: String,
    /// Second line, possibly empty.
    pub address2: String,
    /// City.
    pub city: String,
    /// Country, such as "USA".
    pub country: String,
    /// State, such as "CA".
    pub state: String,
    /// Zip code.
    pub zip: String,
}

/// A customer's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Name {
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
}

/// A way a customer pays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case", deny_unknown_fields)]
pub enum PaymentMethod {
    /// A PayPal account.
    Paypal {
        /// Payment method id, such as "paypal_5727330".
        id: String,
    },
    /// A credit card, known by brand and last four digits.
    CreditCard {
        /// Payment method id, such as "credit_card_7815826".
        id: String,
        /// Card brand, such as "visa".
        brand: String,
        /// Last four digits of the card number.
        last_four: String,
    },
    /// A store gift card with a balance that refunds and payments change at once.
    GiftCard {
        /// Payment method id, such as "gift_card_1725971".
        id: String,
        /// What is left on the card.
        balance: Cents,
    },
}

impl PaymentMethod {
    /// The payment method id.
    pub fn id(&self) -> &str {
        match self {
            PaymentMethod::Paypal { id }
            | PaymentMethod::CreditCard { id, .. }
            | PaymentMethod::GiftCard { id, .. } => id,
        }
    }

    /// The storage name of its kind: "paypal", "credit_card" or "gift_card".
    pub fn source(&self) -> &'static str {
        match self {
            PaymentMethod::Paypal { .. } => "paypal",
            PaymentMethod::CreditCard { .. } => "credit_card",
            PaymentMethod::GiftCard { .. } => "gift_card",
        }
    }
}

/// A customer account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// User id, such as "yusuf_rossi_9620".
    pub user_id: String,
    /// The customer's name.
    pub name: Name,
    /// Default shipping address.
    pub address: Address,
    /// Email address (matched case-insensitively).
    pub email: String,
    /// Payment methods, by id.
    pub payment_methods: IndexMap<String, PaymentMethod>,
    /// The customer's order ids, oldest first.
    pub orders: Vec<String>,
}

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderStatus {
    /// Placed, not yet processed: can be cancelled or modified.
    #[serde(rename = "pending")]
    Pending,
    /// Pending, and its items were modified once: only address and payment may change now.
    #[serde(rename = "pending (item modified)")]
    PendingItemModified,
    /// Being prepared for shipping.
    #[serde(rename = "processed")]
    Processed,
    /// Delivered: can be returned or exchanged.
    #[serde(rename = "delivered")]
    Delivered,
    /// Cancelled and refunded.
    #[serde(rename = "cancelled")]
    Cancelled,
    /// A return was requested.
    #[serde(rename = "return requested")]
    ReturnRequested,
    /// An exchange was requested.
    #[serde(rename = "exchange requested")]
    ExchangeRequested,
}

impl OrderStatus {
    /// The status as stored and shown, such as "pending (item modified)".
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::PendingItemModified => "pending (item modified)",
            OrderStatus::Processed => "processed",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::ReturnRequested => "return requested",
            OrderStatus::ExchangeRequested => "exchange requested",
        }
    }

    /// Parses a stored status.
    pub fn parse(s: &str) -> Option<OrderStatus> {
        ALL_STATUSES.into_iter().find(|status| status.as_str() == s)
    }

    /// Whether the address and payment of the order may still change.
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            OrderStatus::Pending | OrderStatus::PendingItemModified
        )
    }
}

const ALL_STATUSES: [OrderStatus; 7] = [
    OrderStatus::Pending,
    OrderStatus::PendingItemModified,
    OrderStatus::Processed,
    OrderStatus::Delivered,
    OrderStatus::Cancelled,
    OrderStatus::ReturnRequested,
    OrderStatus::ExchangeRequested,
];

/// One line of an order: a variant at the price it was bought for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderItem {
    /// Product name at the time of ordering.
    pub name: String,
    /// The product id.
    pub product_id: String,
    /// The variant's item id.
    pub item_id: String,
    /// The price paid for it.
    pub price: Cents,
    /// The variant's options.
    pub options: Options,
    /// What the store paid for it, when known (an imported sales history carries it); left out
    /// where unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cents>,
}

/// A shipment: tracking ids and the items it carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fulfillment {
    /// Carrier tracking ids.
    pub tracking_id: Vec<String>,
    /// The item ids shipped.
    pub item_ids: Vec<String>,
}

/// Whether money went in or out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionType {
    /// The customer paid.
    Payment,
    /// The customer was refunded.
    Refund,
}

impl TransactionType {
    /// The stored name: "payment" or "refund".
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionType::Payment => "payment",
            TransactionType::Refund => "refund",
        }
    }
}

/// One entry of an order's payment history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    /// Payment or refund.
    pub transaction_type: TransactionType,
    /// How much (never negative).
    pub amount: Cents,
    /// The payment method charged or credited.
    pub payment_method_id: String,
}

/// An order and everything that happened to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Order {
    /// Order id, such as "#W2378156" (with the `#`).
    pub order_id: String,
    /// The customer who placed it.
    pub user_id: String,
    /// Shipping address.
    pub address: Address,
    /// The items, in order.
    pub items: Vec<OrderItem>,
    /// Where it stands.
    pub status: OrderStatus,
    /// Shipments.
    pub fulfillments: Vec<Fulfillment>,
    /// Payments and refunds, oldest first.
    pub payment_history: Vec<Payment>,
    /// When it was placed (ISO 8601: `2000-11-01` or `2000-11-01T09:30:00Z`); stores imported
    /// without dates, such as the tau2 store, have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placed_at: Option<String>,
    /// Why it was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
    /// Item ids to exchange (sorted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange_items: Option<Vec<String>>,
    /// Item ids to receive in exchange (sorted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange_new_items: Option<Vec<String>>,
    /// The payment method that settles the exchange's price difference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange_payment_method_id: Option<String>,
    /// What the exchange costs (positive) or refunds (negative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange_price_difference: Option<Cents>,
    /// Item ids to return (sorted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_items: Option<Vec<String>>,
    /// The payment method that receives the return's refund.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_payment_method_id: Option<String>,
}

/// The optional fields of an order, in the order an agent sees them (null when unset).
pub const ORDER_OPTIONAL_FIELDS: [&str; 7] = [
    "cancel_reason",
    "exchange_items",
    "exchange_new_items",
    "exchange_payment_method_id",
    "exchange_price_difference",
    "return_items",
    "return_payment_method_id",
];

/// A whole store in the tau2-retail `db.json` shape: what `clerk import` reads and `clerk export`
/// writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSnapshot {
    /// Products by product id.
    pub products: IndexMap<String, Product>,
    /// Customers by user id.
    pub users: IndexMap<String, User>,
    /// Orders by order id.
    pub orders: IndexMap<String, Order>,
}
