#[tokio::main]
async fn main() {
    let app = axum::Router::new().fallback(|| async { "{}" });
    let l = tokio::net::TcpListener::bind("127.0.0.1:18081")
        .await
        .unwrap();
    axum::serve(l, app).await.unwrap();
}
